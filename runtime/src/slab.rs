//! A fixed-capacity slab with generation-checked keys.
//!
//! Every pool in a worker (connections, op slots, timers, …) is one of
//! these: capacity is fixed at launch, exhaustion is a `None` the caller
//! turns into an error value (and counts), and a key whose slot was freed
//! and reused no longer resolves, so a stale handle can never reach another
//! owner's entry.

use crate::stats::kinds::SlabUsage;

/// A key into a [`Slab`]: slot index plus the generation it was issued at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

struct Entry<T> {
    generation: u32,
    value: Option<T>,
}

/// Fixed-capacity storage; see the module docs.
pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    /// Free slot indices; popped from the back, so freed slots are reused
    /// first (they are warm in cache).
    free: Vec<u32>,
    capacity: u32,
    high_water: u32,
    exhausted_total: u64,
}

impl<T> Slab<T> {
    /// A slab of `capacity` slots, all free. Memory for the slot table is
    /// reserved up front so the hot path never reallocates.
    pub(crate) fn with_capacity(capacity: u32) -> Slab<T> {
        let mut entries = Vec::with_capacity(capacity as usize);
        entries.resize_with(capacity as usize, || Entry {
            generation: 0,
            value: None,
        });
        Slab {
            entries,
            free: (0..capacity).rev().collect(),
            capacity,
            high_water: 0,
            exhausted_total: 0,
        }
    }

    /// Stores `value`, or gives it back when every slot is taken (the
    /// exhaustion is counted).
    pub(crate) fn insert(&mut self, value: T) -> Result<Key, T> {
        let Some(index) = self.free.pop() else {
            self.exhausted_total += 1;
            return Err(value);
        };
        let entry = &mut self.entries[index as usize];
        entry.value = Some(value);
        let generation = entry.generation;
        let used = self.len() as u32;
        self.high_water = self.high_water.max(used);
        Ok(Key { index, generation })
    }

    /// The live value under `key`, if the key is current.
    #[inline]
    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        let entry = self.entries.get(key.index as usize)?;
        if entry.generation != key.generation {
            return None;
        }
        entry.value.as_ref()
    }

    /// The live value under `key`, mutably, if the key is current.
    #[inline]
    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let entry = self.entries.get_mut(key.index as usize)?;
        if entry.generation != key.generation {
            return None;
        }
        entry.value.as_mut()
    }

    /// The live value at `index` whatever its generation, with its key.
    #[inline]
    pub(crate) fn get_by_index(&self, index: u32) -> Option<(Key, &T)> {
        let entry = self.entries.get(index as usize)?;
        let value = entry.value.as_ref()?;
        Some((
            Key {
                index,
                generation: entry.generation,
            },
            value,
        ))
    }

    /// As [`get_by_index`](Self::get_by_index), mutably.
    pub(crate) fn get_mut_by_index(&mut self, index: u32) -> Option<(Key, &mut T)> {
        let entry = self.entries.get_mut(index as usize)?;
        let generation = entry.generation;
        let value = entry.value.as_mut()?;
        Some((Key { index, generation }, value))
    }

    /// Frees the slot under `key` and returns its value; the slot's
    /// generation moves on, so `key` (and every copy) goes stale.
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let entry = self.entries.get_mut(key.index as usize)?;
        if entry.generation != key.generation {
            return None;
        }
        let value = entry.value.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(key.index);
        Some(value)
    }

    /// Slots in use.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        (self.capacity as usize) - self.free.len()
    }

    /// True when no slot is in use.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.free.len() == self.capacity as usize
    }

    /// Occupancy for the stats layer.
    pub(crate) fn usage(&self) -> SlabUsage {
        SlabUsage {
            used: self.len() as u64,
            capacity: self.capacity as u64,
            high_water: self.high_water as u64,
            exhausted_total: self.exhausted_total,
        }
    }

    #[cfg(test)]
    /// True when no slot is free.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.free.is_empty()
    }

    #[cfg(test)]
    /// Fixed capacity.
    #[inline]
    pub(crate) fn capacity(&self) -> u32 {
        self.capacity
    }

    #[cfg(test)]
    /// Most slots ever in use at once.
    #[inline]
    pub(crate) fn high_water(&self) -> u32 {
        self.high_water
    }

    #[cfg(test)]
    /// Inserts refused because the slab was full.
    #[inline]
    pub(crate) fn exhausted_total(&self) -> u64 {
        self.exhausted_total
    }

    #[cfg(test)]
    /// Counts one refusal the caller made on the slab's behalf (for pools
    /// that check `is_full` before building the value).
    #[inline]
    pub(crate) fn note_exhausted(&mut self) {
        self.exhausted_total += 1;
    }

    /// Keys of every live slot (a snapshot: safe to mutate while iterating it).
    pub(crate) fn keys(&self) -> Vec<Key> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.value.is_some())
            .map(|(i, e)| Key {
                index: i as u32,
                generation: e.generation,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_and_reuse_bumps_generation() {
        let mut slab = Slab::with_capacity(2);
        let a = slab.insert("a").unwrap();
        let b = slab.insert("b").unwrap();
        assert_ne!(a.index, b.index);
        assert_eq!(slab.get(a), Some(&"a"));
        assert_eq!(slab.len(), 2);
        assert!(slab.is_full());

        assert_eq!(slab.remove(a), Some("a"));
        assert_eq!(slab.get(a), None, "a removed key must not resolve");
        assert_eq!(slab.remove(a), None, "double remove is a no-op");

        let c = slab.insert("c").unwrap();
        assert_eq!(c.index, a.index, "the freed slot is reused first");
        assert_eq!(c.generation, a.generation + 1);
        assert_eq!(
            slab.get(a),
            None,
            "the stale key must not see the new owner"
        );
        assert_eq!(slab.get(c), Some(&"c"));
        assert_eq!(slab.get_by_index(c.index), Some((c, &"c")));
    }

    #[test]
    fn exhaustion_returns_the_value_and_is_counted() {
        let mut slab = Slab::with_capacity(1);
        slab.insert(1).unwrap();
        assert_eq!(slab.insert(2), Err(2));
        assert_eq!(slab.insert(3), Err(3));
        assert_eq!(slab.exhausted_total(), 2);
        slab.note_exhausted();
        assert_eq!(slab.exhausted_total(), 3);
    }

    #[test]
    fn high_water_tracks_the_peak_not_the_current() {
        let mut slab = Slab::with_capacity(4);
        let keys: Vec<_> = (0..3).map(|i| slab.insert(i).unwrap()).collect();
        for k in &keys {
            slab.remove(*k);
        }
        slab.insert(9).unwrap();
        assert_eq!(slab.len(), 1);
        assert_eq!(slab.high_water(), 3);
        assert_eq!(slab.capacity(), 4);
    }

    #[test]
    fn zero_capacity_slab_refuses_everything() {
        let mut slab = Slab::<u8>::with_capacity(0);
        assert!(slab.is_empty());
        assert!(slab.is_full());
        assert_eq!(slab.insert(1), Err(1));
        assert_eq!(
            slab.get(Key {
                index: 0,
                generation: 0
            }),
            None
        );
    }

    #[test]
    fn keys_lists_live_slots_only() {
        let mut slab = Slab::with_capacity(3);
        let a = slab.insert('a').unwrap();
        let b = slab.insert('b').unwrap();
        slab.remove(a);
        assert_eq!(slab.keys(), vec![b]);
    }
}
