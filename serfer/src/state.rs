//! Application state handed to the builder with [`crate::NodeBuilder::state`],
//! looked up by type when a handler asks for [`crate::State`].

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

/// Application state handed to the builder with [`crate::NodeBuilder::state`].
#[derive(Default, Clone)]
pub(crate) struct StateMap(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl StateMap {
    pub(crate) fn insert<S: Clone + Send + Sync + 'static>(&mut self, s: S) {
        self.0.insert(TypeId::of::<S>(), Arc::new(s));
    }
    pub(crate) fn get<S: Clone + Send + Sync + 'static>(&self) -> Option<S> {
        self.0.get(&TypeId::of::<S>())?.downcast_ref::<S>().cloned()
    }
    pub(crate) fn contains<S: 'static>(&self) -> bool {
        self.0.contains_key(&TypeId::of::<S>())
    }
}

/// Read-only view of the builder's state, for start-up checks.
#[doc(hidden)]
pub struct StateMapView<'a>(pub(crate) &'a StateMap);
