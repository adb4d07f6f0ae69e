//! The handler registry: which function handles which event.

use std::collections::HashMap;

use crate::error::Error;
use crate::event::check_name;
use crate::extract::{ForMember, ForQuery, ForUserEvent};
use crate::handler::{
    erase_event, erase_query, Erased, Handler, MemberEventOutput, QueryOutput, UserEventOutput,
};
use crate::member::MemberEventKind;
use crate::state::{StateMap, StateMapView};
use crate::target::{glob_match, is_glob};

/// Which events a registered handler receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HandlerKind {
    /// User events.
    UserEvent,
    /// Queries.
    Query,
    /// Membership events of one kind, or of every kind (`None`).
    Member(Option<MemberEventKind>),
}

impl std::fmt::Display for HandlerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandlerKind::UserEvent => f.write_str("user event"),
            HandlerKind::Query => f.write_str("query"),
            HandlerKind::Member(Some(k)) => write!(f, "member event `{k}`"),
            HandlerKind::Member(None) => f.write_str("member event (any)"),
        }
    }
}

pub(crate) struct Route {
    pub(crate) kind: HandlerKind,
    /// `None` is the catch-all of its kind.
    pub(crate) name: Option<String>,
    pub(crate) label: String,
    pub(crate) handler: Erased,
    pub(crate) check: fn(&StateMapView<'_>) -> Result<(), String>,
}

/// The set of handlers a node is started with.
///
/// Filled by the builder's `.user_event(…)`, `.query(…)` and `.member_event(…)`,
/// and by the `#[serfer::…]` attributes through [`crate::NodeBuilder::discovered_handlers`].
#[derive(Default)]
pub struct Registry {
    pub(crate) routes: Vec<Route>,
}

impl Registry {
    /// Registers a user-event handler for `name`, or for every event without an exact
    /// handler when `name` is `None`.
    pub fn user_event<Args, H>(&mut self, name: Option<&str>, handler: H) -> &mut Self
    where
        H: Handler<ForUserEvent, Args>,
        H::Output: UserEventOutput,
    {
        self.push(
            HandlerKind::UserEvent,
            name,
            erase_event(handler, UserEventOutput::into_result),
            H::check,
            std::any::type_name::<H>(),
        )
    }

    /// Registers the query handler for `name`, or the catch-all when `name` is `None`.
    pub fn query<Args, H>(&mut self, name: Option<&str>, handler: H) -> &mut Self
    where
        H: Handler<ForQuery, Args>,
        H::Output: QueryOutput,
    {
        self.push(
            HandlerKind::Query,
            name,
            erase_query(handler),
            H::check,
            std::any::type_name::<H>(),
        )
    }

    /// Registers a membership handler for one kind, or for every kind when `None`.
    pub fn member_event<Args, H>(&mut self, kind: Option<MemberEventKind>, handler: H) -> &mut Self
    where
        H: Handler<ForMember, Args>,
        H::Output: MemberEventOutput,
    {
        self.push(
            HandlerKind::Member(kind),
            None,
            erase_event(handler, MemberEventOutput::into_result),
            H::check,
            std::any::type_name::<H>(),
        )
    }

    /// Registers a handler the attribute macros generated: they extract the
    /// arguments themselves, so that a wrong argument is one error at its type.
    #[doc(hidden)]
    pub fn generated(
        &mut self,
        kind: HandlerKind,
        name: Option<&str>,
        function: &str,
        call: crate::handler::GeneratedCall,
        check: fn(&StateMapView<'_>) -> Result<(), String>,
    ) -> &mut Self {
        let handler: Erased = std::sync::Arc::new(call);
        self.push(kind, name, handler, check, function)
    }

    fn push(
        &mut self,
        kind: HandlerKind,
        name: Option<&str>,
        handler: Erased,
        check: fn(&StateMapView<'_>) -> Result<(), String>,
        label: &str,
    ) -> &mut Self {
        self.routes.push(Route {
            kind,
            name: name.map(str::to_owned),
            label: label.to_owned(),
            handler,
            check,
        });
        self
    }

    /// The registered handlers: kind, name (`None` for catch-alls) and function.
    pub fn handlers(&self) -> impl Iterator<Item = (HandlerKind, Option<&str>, &str)> {
        self.routes
            .iter()
            .map(|r| (r.kind, r.name.as_deref(), r.label.as_str()))
    }

    /// How many handlers are registered.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no handler is registered.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// Handlers indexed for dispatch.
pub(crate) struct Router {
    user: HashMap<String, Vec<Route>>,
    /// Handlers whose name is a glob (`kubekit/*`), in registration order.
    user_glob: Vec<Route>,
    user_any: Vec<Route>,
    query: HashMap<String, Route>,
    query_glob: Vec<Route>,
    query_any: Option<Route>,
    member: Vec<Route>,
}

/// Whether a handler registered as `pattern` takes an event or query sent as
/// `name`: equal, or a glob on either side that matches the other.
fn addressed(pattern: &str, name: &str) -> bool {
    pattern == name
        || (is_glob(pattern) && glob_match(pattern, name))
        || (name.contains('*') && glob_match(name, pattern))
}

impl Router {
    /// Validates the registry against the state given and indexes it.
    pub(crate) fn build(registry: Registry, states: &StateMap) -> Result<Router, Error> {
        let mut router = Router {
            user: HashMap::new(),
            user_glob: Vec::new(),
            user_any: Vec::new(),
            query: HashMap::new(),
            query_glob: Vec::new(),
            query_any: None,
            member: Vec::new(),
        };
        let mut problems = Vec::new();
        for route in registry.routes {
            if let Some(name) = &route.name {
                if let Err(e) = check_name(name) {
                    problems.push(format!("{} handler `{}`: {e}", route.kind, route.label));
                    continue;
                }
            }
            if let Err(e) = (route.check)(&StateMapView(states)) {
                problems.push(format!("{} handler `{}`: {e}", route.kind, route.label));
                continue;
            }
            match (route.kind, route.name.clone()) {
                (HandlerKind::UserEvent, Some(n)) if is_glob(&n) => router.user_glob.push(route),
                (HandlerKind::UserEvent, Some(n)) => router.user.entry(n).or_default().push(route),
                (HandlerKind::UserEvent, None) => router.user_any.push(route),
                (HandlerKind::Query, name) => {
                    let slot = match &name {
                        Some(n) => router.query.get(n),
                        None => router.query_any.as_ref(),
                    };
                    if let Some(prev) = slot {
                        problems.push(format!(
                            "two query handlers for {}: `{}` and `{}` (a query gets one response per node)",
                            name.as_deref().map_or("every query (catch-all)".to_owned(), |n| format!("`{n}`")),
                            prev.label,
                            route.label
                        ));
                        continue;
                    }
                    match name {
                        Some(n) if is_glob(&n) => {
                            if let Some(prev) =
                                router.query_glob.iter().find(|r| r.name == Some(n.clone()))
                            {
                                problems.push(format!(
                                    "two query handlers for `{n}`: `{}` and `{}` (a query gets one response per node)",
                                    prev.label, route.label
                                ));
                                continue;
                            }
                            router.query_glob.push(route);
                        }
                        Some(n) => {
                            router.query.insert(n, route);
                        }
                        None => router.query_any = Some(route),
                    }
                }
                (HandlerKind::Member(_), _) => router.member.push(route),
            }
        }
        if problems.is_empty() {
            Ok(router)
        } else {
            Err(Error::Handlers(problems.join("; ")))
        }
    }

    /// The handlers a user event named `name` goes to: those registered under
    /// its name or a glob matching it (or, when it is sent with a `*`, whose
    /// name it matches), else the catch-alls.
    pub(crate) fn user_routes(&self, name: &str) -> Vec<&Route> {
        let mut routes: Vec<&Route> = if name.contains('*') {
            self.user
                .iter()
                .filter(|(n, _)| glob_match(name, n))
                .flat_map(|(_, r)| r)
                .collect()
        } else {
            self.user.get(name).into_iter().flatten().collect()
        };
        routes.extend(
            self.user_glob
                .iter()
                .filter(|r| r.name.as_deref().is_some_and(|p| addressed(p, name))),
        );
        if routes.is_empty() {
            routes.extend(&self.user_any);
        }
        routes
    }

    /// The one handler a query named `name` goes to: its exact name, else the
    /// first handler (in registration order) that a glob on either side
    /// addresses, else the catch-all.
    pub(crate) fn query_route(&self, name: &str) -> Option<&Route> {
        self.query
            .get(name)
            .or_else(|| {
                self.query_glob
                    .iter()
                    .find(|r| r.name.as_deref().is_some_and(|p| addressed(p, name)))
            })
            .or_else(|| {
                let mut named: Vec<(&String, &Route)> = self
                    .query
                    .iter()
                    .filter(|(n, _)| name.contains('*') && glob_match(name, n))
                    .collect();
                named.sort_by(|a, b| a.0.cmp(b.0));
                named.first().map(|(_, r)| *r)
            })
            .or(self.query_any.as_ref())
    }

    pub(crate) fn member_routes(&self, kind: MemberEventKind) -> impl Iterator<Item = &Route> {
        self.member.iter().filter(move |r| {
            matches!(r.kind, HandlerKind::Member(None)) || r.kind == HandlerKind::Member(Some(kind))
        })
    }
}
