//! Counter pages as dom0 reads them: any bytes through `parse` (never a
//! panic; whatever it accepts has printable, unique names), and any sequence
//! of writer operations gives pages that parse back to exactly the table.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pv_runtime::counter_page::{parse, snapshot, CounterTable, READ_TRIES};
use pv_runtime::shared_page::HeapPage;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        if let Ok(s) = parse(rest) {
            let mut seen = std::collections::BTreeSet::new();
            for c in &s.counters {
                assert!(c.name.bytes().all(|b| (0x21..=0x7e).contains(&b)));
                assert!(seen.insert(c.name.clone()));
            }
        }
        return;
    }
    let pages: Vec<HeapPage> = (0..(mode >> 1) % 3 + 1).map(|_| HeapPage::new()).collect();
    let mut t = CounterTable::new(pages.clone()).unwrap();
    for op in rest.chunks(3) {
        let k = op.get(1).copied().unwrap_or(0);
        let name = format!("f/{k}");
        match op[0] % 4 {
            0 => {
                let _ = t.register(&name);
            }
            1 => {
                if let Some(id) = t.id(&name) {
                    t.unregister(id);
                }
            }
            2 => {
                if let Some(id) = t.id(&name) {
                    t.set(id, u64::from(op.get(2).copied().unwrap_or(0)) << 8 | u64::from(k));
                }
            }
            _ => {
                t.unregister_prefix("f");
            }
        }
    }
    let s = snapshot(&pages, READ_TRIES).expect("a table we wrote parses");
    let got: Vec<(&str, u64)> = s.counters.iter().map(|c| (c.name.as_str(), c.value)).collect();
    assert_eq!(got, t.iter().collect::<Vec<_>>());
});
