//! The SDK builds from its own copy of the WIT contract so that it builds
//! from its own directory (and can be published); the workspace's `wit/`
//! is the one source of truth. In the repository, the two must be equal.

use std::collections::BTreeMap;
use std::path::Path;

fn wit_files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "wit"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

#[test]
fn the_sdk_copy_of_the_wit_is_the_workspace_wit() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = sdk.join("../wit");
    if !workspace.is_dir() {
        // Built outside the repository (from a package): nothing to compare.
        return;
    }
    assert!(
        wit_files(&sdk.join("wit")) == wit_files(&workspace),
        "guest-sdk/wit differs from wit/: run `cargo xtask wit` to copy wit/ over it"
    );
}
