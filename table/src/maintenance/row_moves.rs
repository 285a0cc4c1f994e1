//! Where a compaction moved the rows it kept. A merge-on-read compaction writes the surviving
//! rows of the files it rewrites, file after file and in their order, as the rows of its new
//! files, in order; so a row's new place follows from its old one and the rows deleted before
//! it. Deletes added while the compaction ran are carried over to the new files this way, and
//! the committer's key index follows its rows without reading the table again.

/// A rewritten file: its path, the positions deleted when the compaction was planned (sorted)
/// and where its first surviving row went in the compaction's output.
#[derive(Debug, Clone)]
struct MovedFile {
    path: String,
    deleted: Vec<i64>,
    rows: u64,
    start: u64,
}

/// A new file: its path and the output row it starts at.
#[derive(Debug, Clone)]
struct NewFile {
    path: String,
    start: u64,
}

/// The rows a compaction kept, from their old files to its new ones.
#[derive(Debug, Clone)]
pub struct RowMoves {
    from: Vec<MovedFile>,
    to: Vec<NewFile>,
}

impl RowMoves {
    /// The moves of a compaction that rewrote `from` (path, row count, positions deleted at the
    /// plan), in the order it read them, into `to` (path, row count) in the order it wrote them;
    /// `None` when the counts do not add up (the output is not the rows read, in order).
    pub fn new(from: Vec<(String, u64, Vec<i64>)>, to: Vec<(String, u64)>) -> Option<Self> {
        let mut start = 0u64;
        let mut moved = Vec::with_capacity(from.len());
        for (path, rows, mut deleted) in from {
            deleted.sort_unstable();
            deleted.dedup();
            deleted.retain(|p| (0..rows as i64).contains(p));
            moved.push(MovedFile {
                path,
                rows,
                start,
                deleted: deleted.clone(),
            });
            start += rows - deleted.len() as u64;
        }
        let mut written = 0u64;
        let mut new = Vec::with_capacity(to.len());
        for (path, rows) in to {
            new.push(NewFile {
                path,
                start: written,
            });
            written += rows;
        }
        (written == start).then_some(Self {
            from: moved,
            to: new,
        })
    }

    /// The rewritten files, by their number here.
    pub fn rewritten(&self) -> impl Iterator<Item = &str> {
        self.from.iter().map(|f| f.path.as_str())
    }

    /// The number of the rewritten file `path`.
    pub fn rewritten_index(&self, path: &str) -> Option<usize> {
        self.from.iter().position(|f| f.path == path)
    }

    /// The new files, by their number here.
    pub fn new_files(&self) -> impl Iterator<Item = &str> {
        self.to.iter().map(|f| f.path.as_str())
    }

    /// Where row `pos` of rewritten file number `file` went: a new file's number and the
    /// row's position there; `None` for a row deleted before the compaction (or none at all).
    pub fn moved(&self, file: usize, pos: i64) -> Option<(usize, i64)> {
        let from = self.from.get(file)?;
        if pos < 0 || pos as u64 >= from.rows {
            return None;
        }
        let before = match from.deleted.binary_search(&pos) {
            Ok(_) => return None,
            Err(before) => before,
        };
        let at = from.start + pos as u64 - before as u64;
        let to = self.to.partition_point(|f| f.start <= at).checked_sub(1)?;
        Some((to, (at - self.to[to].start) as i64))
    }

    /// The path of new file number `to`.
    pub fn new_path(&self, to: usize) -> &str {
        &self.to[to].path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_rows_follow_each_other_across_files() {
        // a: 4 rows, 1 and 2 deleted; b: 3 rows, 0 deleted; 4 survivors into x (3) and y (1).
        let moves = RowMoves::new(
            vec![("a".into(), 4, vec![2, 1]), ("b".into(), 3, vec![0])],
            vec![("x".into(), 3), ("y".into(), 1)],
        )
        .expect("counts add up");
        assert_eq!(moves.moved(0, 0), Some((0, 0)));
        assert_eq!(moves.moved(0, 1), None, "deleted before");
        assert_eq!(moves.moved(0, 3), Some((0, 1)));
        assert_eq!(moves.moved(1, 0), None);
        assert_eq!(moves.moved(1, 1), Some((0, 2)));
        assert_eq!(moves.moved(1, 2), Some((1, 0)));
        assert_eq!(moves.moved(1, 3), None, "past the file");
        assert_eq!(moves.new_path(1), "y");
        assert_eq!(moves.rewritten_index("b"), Some(1));
    }

    #[test]
    fn an_output_that_is_not_the_rows_read_gives_no_moves() {
        assert!(RowMoves::new(vec![("a".into(), 4, vec![1])], vec![("x".into(), 4)]).is_none());
    }
}
