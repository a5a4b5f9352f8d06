//! A vector that grows in fixed-size chunks.
//!
//! A wasm guest's linear memory only ever grows, so the peak is what the host
//! pays for. A `Vec` that doubles holds the old and the new buffer at once
//! while it copies; at a million transactions that transient peak is larger
//! than the graph itself. Chunks never move, so growth costs one chunk.

const CHUNK_BITS: u32 = 15;
const CHUNK: usize = 1 << CHUNK_BITS;

/// An append-only vector stored in chunks of 32,768 elements.
pub struct ChunkedVec<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T: Copy> Default for ChunkedVec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy> ChunkedVec<T> {
    pub const fn new() -> Self {
        ChunkedVec {
            chunks: Vec::new(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, value: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks
            .last_mut()
            .expect("a chunk was just ensured")
            .push(value);
        self.len += 1;
    }

    #[inline]
    pub fn get(&self, index: usize) -> T {
        self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }

    #[inline]
    pub fn set(&mut self, index: usize, value: T) {
        self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)] = value;
    }

    /// Bytes reserved, for memory accounting.
    pub fn reserved_bytes(&self) -> usize {
        self.chunks.len() * CHUNK * std::mem::size_of::<T>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_across_chunks() {
        let mut v = ChunkedVec::new();
        for i in 0..(CHUNK * 2 + 5) as u32 {
            v.push(i);
        }
        assert_eq!(v.len(), CHUNK * 2 + 5);
        assert_eq!(v.get(CHUNK + 3), CHUNK as u32 + 3);
        v.set(7, 99);
        assert_eq!(v.get(7), 99);
    }
}
