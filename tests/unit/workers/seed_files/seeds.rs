use std::collections::HashMap;
use std::fs;

/// Counts how often each word occurs in `text`.
/// Words are separated by whitespace.
#[must_use]
pub fn word_counts(text: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_string()).or_insert(0) += 1;
    }
    counts
}

/// Prints the value given, returning the unit type.
fn show(value: i32) {
    println!("{value}");
}

/// Returns the answer and takes no arguments here.
fn answer() -> i32 {
    42
}

/// Reads a whole file from the disk into a string.
fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

// A plain comment is not a doc comment in Rust.
fn plain(a: i32) -> i32 {
    a
}

fn undocumented(a: i32) -> i32 {
    a
}
