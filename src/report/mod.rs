//! Reporters: consumers of run [`Event`]s. The runner emits events; each reporter renders them
//! its own way and knows nothing else about checks (the cargo-nextest split).

mod charts;
pub mod github;
pub mod human;
pub mod json;
pub mod junit;
mod readiness;
pub mod status;
pub mod timings;

pub use human::HumanReporter;
pub use json::{JsonReporter, json_value};

use crate::events::{Event, Reporter};

/// Fans every event out to several reporters, in order.
pub struct Multi(pub Vec<Box<dyn Reporter>>);

impl Reporter for Multi {
    fn on_event(&mut self, event: &Event) {
        for r in &mut self.0 {
            r.on_event(event);
        }
    }

    /// Finishes every reporter even if one fails; returns the first error.
    fn finish(&mut self) -> std::io::Result<()> {
        let mut first = Ok(());
        for r in &mut self.0 {
            let res = r.finish();
            if first.is_ok() {
                first = res;
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    struct Count(Rc<RefCell<Vec<&'static str>>>, &'static str, bool);

    impl Reporter for Count {
        fn on_event(&mut self, _: &Event) {
            self.0.borrow_mut().push(self.1);
        }
        fn finish(&mut self) -> std::io::Result<()> {
            self.0.borrow_mut().push("finish");
            if self.2 { Err(std::io::Error::other(self.1)) } else { Ok(()) }
        }
    }

    #[test]
    fn multi_fans_out_and_finishes_all() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut m = Multi(vec![Box::new(Count(log.clone(), "a", true)), Box::new(Count(log.clone(), "b", true))]);
        m.on_event(&Event::Service { message: "up".into() });
        let err = m.finish().unwrap_err();
        assert_eq!(err.to_string(), "a");
        assert_eq!(*log.borrow(), vec!["a", "b", "finish", "finish"]);
    }
}
