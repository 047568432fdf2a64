//! The evented worker's connection table: a slab whose tokens carry a generation, so an event
//! for a closed connection can never reach a newer one that reused its slot, and a lookup is an
//! index rather than a hash.

/// Slots are addressed by the low 32 bits of a token; the next 31 bits are the slot's
/// generation when the token was issued. The top bit is never set (see [`TAG`]).
const INDEX_BITS: u32 = 32;
const GENERATION_MASK: u32 = u32::MAX >> 1;
/// The bit no slab token has: a caller keeping two slabs marks the second one's tokens with it.
pub(crate) const TAG: usize = 1 << (usize::BITS - 1);

pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

impl<T> Slab<T> {
    pub(crate) fn new() -> Slab<T> {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `value`; returns its token. Tokens never equal `usize::MAX` (the waker's).
    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    value: None,
                });
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 connections")
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.value = Some(value);
        ((slot.generation as usize) << INDEX_BITS) | index as usize
    }

    fn slot(&self, token: usize) -> Option<usize> {
        let index = token & ((1 << INDEX_BITS) - 1);
        let generation = (token >> INDEX_BITS) as u32;
        let slot = self.slots.get(index)?;
        (slot.generation == generation && slot.value.is_some()).then_some(index)
    }

    pub(crate) fn get_mut(&mut self, token: usize) -> Option<&mut T> {
        let index = self.slot(token)?;
        self.slots[index].value.as_mut()
    }

    pub(crate) fn remove(&mut self, token: usize) -> Option<T> {
        let index = self.slot(token)?;
        let slot = &mut self.slots[index];
        // Wrapping is harmless: a token would have to survive 2^31 reuses of its slot.
        slot.generation = slot.generation.wrapping_add(1) & GENERATION_MASK;
        self.free.push(index as u32);
        self.len -= 1;
        slot.value.take()
    }

    /// Tokens of every stored value.
    pub(crate) fn tokens(&self) -> Vec<usize> {
        self.iter().map(|(token, _)| token).collect()
    }

    /// Every stored value with its token.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.value
                .as_ref()
                .map(|v| (((s.generation as usize) << INDEX_BITS) | i, v))
        })
    }

    /// Drops every value.
    pub(crate) fn clear(&mut self) {
        for token in self.tokens() {
            self.remove(token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_tokens_miss_reused_slots() {
        let mut s = Slab::new();
        let a = s.insert("a");
        let b = s.insert("b");
        assert_eq!(s.len(), 2);
        assert_eq!(s.remove(a), Some("a"));
        let c = s.insert("c");
        assert_ne!(a, c, "same slot, new generation");
        assert_eq!(s.get_mut(a), None, "stale token");
        assert_eq!(s.get_mut(c).copied(), Some("c"));
        assert_eq!(s.remove(a), None);
        let mut tokens = s.tokens();
        tokens.sort_unstable();
        let mut want = vec![b, c];
        want.sort_unstable();
        assert_eq!(tokens, want);
        let mut listed: Vec<(usize, &str)> = s.iter().map(|(t, v)| (t, *v)).collect();
        listed.sort_unstable();
        let mut expected = vec![(b, "b"), (c, "c")];
        expected.sort_unstable();
        assert_eq!(listed, expected);
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s.get_mut(b), None);
    }

    #[test]
    fn generations_wrap_below_the_tag_bit() {
        let mut s = Slab::new();
        s.slots.push(Slot {
            generation: GENERATION_MASK,
            value: None,
        });
        s.free.push(0);
        let t = s.insert(1);
        assert_eq!(t & TAG, 0);
        s.remove(t);
        let u = s.insert(2);
        assert_eq!(u & TAG, 0);
        assert_ne!(t, u);
        assert_eq!(s.get_mut(u).copied(), Some(2));
    }
}
