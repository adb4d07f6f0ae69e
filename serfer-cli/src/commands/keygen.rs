//! `keygen`: a new random 32-byte key in base64; no agent involved.

use super::Outcome;
use crate::output;

pub fn run() -> Outcome {
    output::out(&serfer::Key::generate().to_string());
    Ok(())
}
