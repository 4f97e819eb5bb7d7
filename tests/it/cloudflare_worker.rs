//! The Cloudflare Pages worker: `build` writes `templates/hosts/_worker.js` into the site's root
//! as it is (the golden site holds it too). Its routing is tested by tests/hosts/worker.test.mjs,
//! and in Cloudflare's own runtime by tests/hosts/wrangler.sh with tests/hosts/conformance.py.

use std::fs;

use crate::support::bundle::*;
use crate::support::registry::*;
use crate::support::repo_path;

#[test]
fn the_site_holds_the_worker_template_byte_for_byte() {
    let reg = Registry::new();
    reg.publish("com.example.notes", "1.0.0", &key(1));
    reg.build_ok();
    let template = repo_path("templates/hosts/_worker.js");
    assert_eq!(
        fs::read(reg.out().join("_worker.js")).unwrap(),
        fs::read(template).unwrap()
    );
}
