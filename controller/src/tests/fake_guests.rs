//! xenstore with Linux guests and Spikes in it: a vif device plugged in
//! state 1 whose backend directory exists connects (both ends go to 4) the
//! next time someone reads a `state`, as netfront and the Spike would.
//! `misbehave` makes the next plugs go wrong the ways a real guest can.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Deref;

use crate::registry::{Batch, MemRegistry, Op, Registry, RegistryError};

/// What a guest does with the next plug of a vif.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guest {
    Connects,
    /// Never probes it (its xenwatch thread had not seen the removal yet).
    Ignores,
    /// Writes Closing into it (the old device's removal ran late).
    Closes,
}

#[derive(Default)]
pub struct FakeStore {
    mem: MemRegistry,
    next: RefCell<VecDeque<Guest>>,
    /// What each plugged frontend directory's guest does with it.
    plugged: RefCell<BTreeMap<String, Guest>>,
    /// Every batch applied, for checking what was written in which order.
    pub log: RefCell<Vec<Batch>>,
}

impl Deref for FakeStore {
    type Target = MemRegistry;
    fn deref(&self) -> &MemRegistry {
        &self.mem
    }
}

impl FakeStore {
    pub fn misbehave(&self, how: &[Guest]) {
        self.next.borrow_mut().extend(how);
    }

    /// The guests and Spikes react to what is in the store.
    fn settle(&self) {
        for (fe, how) in self.plugged.borrow().iter() {
            let state = |p: &str| self.mem.get(&format!("{p}/state")).unwrap();
            if state(fe).as_deref() != Some("1") {
                continue;
            }
            let Some(be) = self.mem.get(&format!("{fe}/backend")).unwrap() else {
                continue;
            };
            if state(&be).is_none() {
                continue;
            }
            let mut b = Batch::new();
            match how {
                Guest::Connects => {
                    b.put(format!("{fe}/state"), 4)
                        .put(format!("{be}/state"), 4);
                }
                Guest::Closes => {
                    b.put(format!("{fe}/state"), 5);
                }
                Guest::Ignores => {}
            }
            self.mem.apply(&b).unwrap();
        }
    }
}

impl Registry for FakeStore {
    fn get(&self, path: &str) -> Result<Option<String>, RegistryError> {
        if path.ends_with("/state") {
            self.settle();
        }
        self.mem.get(path)
    }
    fn list(&self, path: &str) -> Result<Vec<String>, RegistryError> {
        self.mem.list(path)
    }
    fn apply(&self, batch: &Batch) -> Result<(), RegistryError> {
        self.mem.apply(batch)?;
        self.log.borrow_mut().push(batch.clone());
        for op in &batch.0 {
            if let Op::Put(p, v) = op {
                if let Some(fe) = p.strip_suffix("/state") {
                    if fe.contains("/device/vif/") && v == "1" {
                        let how = self
                            .next
                            .borrow_mut()
                            .pop_front()
                            .unwrap_or(Guest::Connects);
                        self.plugged.borrow_mut().insert(fe.to_string(), how);
                    }
                }
            }
        }
        Ok(())
    }
}
