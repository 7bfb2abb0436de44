//! The key an unknown key was most likely meant to be: the "did you mean" of a config
//! error, by edit distance.

/// Levenshtein distance of two keys, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The known key `key` was most likely meant to be: within two edits, or a prefix of it
/// (or it of the key), the closest first.
pub(super) fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .filter_map(|k| {
            let d = edit_distance(key, k);
            let prefix = key.len() >= 3 && (k.starts_with(key) || key.starts_with(k));
            (d <= 2 || prefix).then_some((d, *k))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}
