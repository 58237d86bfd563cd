//! A fixed-capacity buffer of the hardest examples seen across batches.

use crate::error::{At, Error};
use heapless::Vec;

/// One kept example: its score at its last use, the caller's item (an
/// index, a feature vector, …), and how many times it has been replayed.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Slot<T> {
    /// The score it was offered or last refreshed with (larger = harder).
    pub score: f32,
    /// The caller's item.
    pub item: T,
    /// Replays so far (calls of [`Replay::refresh`] since it was offered).
    pub uses: u16,
}

/// The `N` hardest examples seen so far, for streaming training: each
/// update trains on the new example plus [`Replay::items`], refreshes the
/// kept examples' scores with the losses that update returned
/// ([`Replay::refresh`]), and offers the new example ([`Replay::offer`]).
///
/// * **Admission:** while not full, every offer is kept; when full, an
///   offer replaces the lowest-scoring slot (the first of equal ones) if
///   its score is strictly larger.
/// * **Ageing:** a slot is dropped after `max_uses` replays (0: never), so
///   the buffer follows what is hard *now*, not what was hard once.
/// * **Order:** slots keep their places (a replacement takes the replaced
///   slot's place; a drop shifts the later ones down), so [`Replay::items`]
///   and the scores [`Replay::refresh`] takes are in the same order.
///
/// No allocation: `N` slots inline (`heapless::Vec`); every operation is
/// `O(N)`. Scores must be finite ([`Error::NonFiniteInput`]); a rejected
/// call changes nothing.
///
/// ```
/// use tinyloss::mining::Replay;
/// let mut hard: Replay<u16, 2> = Replay::new(3);
/// assert!(hard.offer(0.5, 7)?);
/// assert!(hard.offer(2.0, 8)?);
/// assert!(!hard.offer(0.1, 9)?); // full, and easier than both
/// assert!(hard.offer(1.0, 10)?); // replaces 7 (0.5), in its place
/// assert_eq!(hard.items().collect::<Vec<_>>(), [&10, &8]);
/// hard.refresh(&[0.9, 0.2])?; // their losses after an update
/// assert_eq!(hard.slots()[1].score, 0.2);
/// # Ok::<(), tinyloss::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Replay<T, const N: usize> {
    slots: Vec<Slot<T>, N>,
    max_uses: u16,
}

impl<T: Copy, const N: usize> Default for Replay<T, N> {
    /// A buffer whose slots never age out.
    fn default() -> Self {
        Self::new(0)
    }
}

impl<T: Copy, const N: usize> Replay<T, N> {
    /// An empty buffer whose slots are dropped after `max_uses` replays (0:
    /// never).
    pub const fn new(max_uses: u16) -> Self {
        Self {
            slots: Vec::new(),
            max_uses,
        }
    }

    /// Offers an example; returns whether it was kept (see the admission
    /// rule on [`Replay`]).
    pub fn offer(&mut self, score: f32, item: T) -> Result<bool, Error> {
        if !score.is_finite() {
            return Err(Error::NonFiniteInput { at: At::Element(0) });
        }
        let new = Slot {
            score,
            item,
            uses: 0,
        };
        if self.slots.push(new).is_ok() {
            return Ok(true);
        }
        let mut min: Option<&mut Slot<T>> = None;
        for s in self.slots.iter_mut() {
            if min.as_ref().is_none_or(|m| s.score < m.score) {
                min = Some(s);
            }
        }
        match min {
            Some(m) if score > m.score => {
                *m = new;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// One replay of every slot: `scores[i]` is slot `i`'s new score (its
    /// loss in the update that replayed it); every slot's use count goes up
    /// by one and slots that reach `max_uses` are dropped. `scores` must
    /// have [`Replay::len`] finite entries.
    pub fn refresh(&mut self, scores: &[f32]) -> Result<(), Error> {
        if scores.len() != self.slots.len() {
            return Err(Error::LengthMismatch {
                what: "scores",
                expected: self.slots.len(),
                found: scores.len(),
            });
        }
        if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
            return Err(Error::NonFiniteInput { at: At::Element(i) });
        }
        for (s, &l) in self.slots.iter_mut().zip(scores) {
            s.score = l;
            s.uses = s.uses.saturating_add(1);
        }
        let max = self.max_uses;
        if max > 0 {
            // `Vec::retain` links an overflow check under `overflow-checks`:
            // a copy of the kept slots instead (N is small).
            let mut kept = Vec::new();
            for s in self.slots.iter().filter(|s| s.uses < max) {
                // Cannot fail: at most N slots.
                let _ = kept.push(*s);
            }
            self.slots = kept;
        }
        Ok(())
    }

    /// The kept items, in slot order.
    pub fn items(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|s| &s.item)
    }

    /// The slots, in order.
    pub fn slots(&self) -> &[Slot<T>] {
        &self.slots
    }

    /// The lowest kept score (what an offer must beat once full).
    pub fn min_score(&self) -> Option<f32> {
        self.slots.iter().map(|s| s.score).reduce(f32::min)
    }

    /// Number of kept examples.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether all `N` slots are taken.
    pub fn is_full(&self) -> bool {
        self.slots.is_full()
    }

    /// Drops every slot.
    pub fn clear(&mut self) {
        self.slots.clear();
    }
}
