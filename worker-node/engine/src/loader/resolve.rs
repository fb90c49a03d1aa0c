//! Module names and import specifiers.
//!
//! Every module of a bundle has a *canonical name*: its path relative to the bundle
//! root, without a leading `./` (`./lib/util.ts` and `lib/util.ts` are both
//! `lib/util.ts`). At run time a module's URL is `bundle:///<canonical name>`.
//!
//! The runtime (`runtime.js`) implements the same resolution for dynamic imports
//! whose specifier is only known at run time; keep the two in step.

use std::collections::BTreeSet;

/// Scheme and authority of module URLs (`import.meta.url`).
pub const URL_PREFIX: &str = "bundle:///";

/// Extensions tried, in order, for a specifier without a matching module.
const EXTENSIONS: [&str; 6] = [".ts", ".mts", ".js", ".mjs", ".cts", ".cjs"];

/// `a/./b/../c` -> `a/c`. `None` when the path climbs above the root.
pub fn normalize_path(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            other => out.push(other),
        }
    }
    Some(out.join("/"))
}

/// The canonical name of a module named `name` in a bundle, or why it is invalid.
pub fn canonical_module_name(name: &str) -> Result<String, &'static str> {
    if name.trim().is_empty() {
        return Err("a module name must not be empty");
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    {
        return Err("a module name must not contain control characters or line breaks");
    }
    if name.contains('\\') {
        return Err("module names use `/` as the path separator");
    }
    match normalize_path(name) {
        None => Err("a module name must not climb above the bundle root with `..`"),
        Some(canonical) if canonical.is_empty() => Err("a module name must name a file"),
        Some(canonical) => Ok(canonical),
    }
}

/// How a module is written down for people: `./lib/util.ts`.
pub fn display_name(canonical: &str) -> String {
    format!("./{canonical}")
}

/// Resolves `specifier`, imported from the module `importer` (canonical), against the
/// bundle's `modules` (canonical names). `None` when it names no module of the bundle.
///
/// Relative (`./x`, `../x`), root-relative (`/x`) and `bundle:///x` specifiers are
/// resolved; anything else (bare `lodash`, `node:fs`, `https://...`) is not.
/// Candidates: the exact path; for `.js`/`.mjs`/`.cjs`, the same path with
/// `.ts`/`.mts`/`.cts`; the path plus an extension; `<path>/index` plus an extension.
pub fn resolve(specifier: &str, importer: &str, modules: &BTreeSet<String>) -> Option<String> {
    candidates_for(specifier, importer)
        .into_iter()
        .find(|c| modules.contains(c))
}

/// Every module name `specifier` (imported by the canonical `importer`) may
/// name, in the order [`resolve`] tries them; empty when it names nothing
/// inside a bundle.
pub fn candidates_for(specifier: &str, importer: &str) -> Vec<String> {
    let joined = if let Some(rest) = specifier.strip_prefix(URL_PREFIX) {
        rest.to_owned()
    } else if specifier.starts_with("./")
        || specifier.starts_with("../")
        || specifier == "."
        || specifier == ".."
    {
        let dir = importer.rfind('/').map_or("", |i| &importer[..=i]);
        format!("{dir}{specifier}")
    } else if specifier.starts_with('/') {
        specifier.to_owned()
    } else {
        return Vec::new();
    };
    match normalize_path(&joined) {
        Some(base) => candidates(&base),
        None => Vec::new(),
    }
}

fn candidates(base: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(2 + 2 * EXTENSIONS.len());
    let index_prefix = if base.is_empty() {
        String::new()
    } else {
        out.push(base.to_owned());
        for (js, ts) in [(".js", ".ts"), (".mjs", ".mts"), (".cjs", ".cts")] {
            if let Some(stem) = base.strip_suffix(js) {
                out.push(format!("{stem}{ts}"));
            }
        }
        for ext in EXTENSIONS {
            out.push(format!("{base}{ext}"));
        }
        format!("{base}/")
    };
    for ext in EXTENSIONS {
        out.push(format!("{index_prefix}index{ext}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn loader_canonical_names() {
        assert_eq!(canonical_module_name("./main.ts").unwrap(), "main.ts");
        assert_eq!(canonical_module_name("main.ts").unwrap(), "main.ts");
        assert_eq!(canonical_module_name("/a/./b/../c.js").unwrap(), "a/c.js");
        assert!(canonical_module_name("../x.js").is_err());
        assert!(canonical_module_name("./").is_err());
        assert!(canonical_module_name("").is_err());
    }

    #[test]
    fn loader_candidates_stay_inside_the_bundle() {
        assert_eq!(
            candidates_for("./util.js", "lib/main.ts")[..2],
            ["lib/util.js".to_owned(), "lib/util.ts".to_owned()]
        );
        assert!(candidates_for("../../x.ts", "lib/main.ts").is_empty());
        assert!(candidates_for("lodash", "main.ts").is_empty());
    }

    #[test]
    fn loader_resolution() {
        let m = set(&[
            "main.ts",
            "lib/util.ts",
            "lib/data.js",
            "dir/index.ts",
            "x.mts",
        ]);
        let r = |s: &str, from: &str| resolve(s, from, &m);
        assert_eq!(
            r("./lib/util.ts", "main.ts").as_deref(),
            Some("lib/util.ts")
        );
        assert_eq!(r("./lib/util", "main.ts").as_deref(), Some("lib/util.ts"));
        assert_eq!(
            r("./lib/util.js", "main.ts").as_deref(),
            Some("lib/util.ts")
        );
        assert_eq!(r("./data", "lib/util.ts").as_deref(), Some("lib/data.js"));
        assert_eq!(r("../main", "lib/util.ts").as_deref(), Some("main.ts"));
        assert_eq!(r("./dir", "main.ts").as_deref(), Some("dir/index.ts"));
        assert_eq!(r("./dir/", "main.ts").as_deref(), Some("dir/index.ts"));
        assert_eq!(r("./x.mjs", "main.ts").as_deref(), Some("x.mts"));
        assert_eq!(
            r("/lib/util", "dir/index.ts").as_deref(),
            Some("lib/util.ts")
        );
        assert_eq!(
            r("bundle:///lib/util.ts", "main.ts").as_deref(),
            Some("lib/util.ts")
        );
        assert_eq!(r("../../main", "lib/util.ts"), None);
        assert_eq!(r("lodash", "main.ts"), None);
        assert_eq!(r("main.ts", "main.ts"), None);
        assert_eq!(r("node:fs", "main.ts"), None);
        assert_eq!(r("https://x.test/a.js", "main.ts"), None);
        assert_eq!(r("./missing", "main.ts"), None);
    }
}
