//! The intrusive doubly linked lists the table threads through its slots.

use super::Slot;

/// A slot's index in the table's vector. 32 bits, not 64: a million tasks carry two links each,
/// and the table refuses a task past `SlotId::MAX - 1` rather than wrap.
pub(super) type SlotId = u32;

/// "No slot": the end of a list. Never a valid index, so `get(slots, NIL)` is `None`.
pub(super) const NIL: SlotId = SlotId::MAX;

/// The slot at `slot`, if there is one.
#[inline]
pub(super) fn get(slots: &[Slot], slot: SlotId) -> Option<&Slot> {
    slots.get(slot as usize)
}

#[inline]
pub(super) fn get_mut(slots: &mut [Slot], slot: SlotId) -> Option<&mut Slot> {
    slots.get_mut(slot as usize)
}

/// A slot's neighbours in one list.
#[derive(Clone, Copy, Debug)]
pub(super) struct Link {
    pub(super) prev: SlotId,
    pub(super) next: SlotId,
}

impl Link {
    pub(super) const DETACHED: Link = Link {
        prev: NIL,
        next: NIL,
    };
}

/// Which of a slot's two links a list is threaded through.
#[derive(Clone, Copy)]
pub(super) enum Chain {
    /// The pending queue, or the list of the worker the task is active on.
    Queue,
    /// The ASSIGNED tasks in assignment order.
    Deadline,
}

pub(super) fn link_mut(slots: &mut [Slot], chain: Chain, slot: SlotId) -> Option<&mut Link> {
    get_mut(slots, slot).map(|entry| match chain {
        Chain::Queue => &mut entry.queue,
        Chain::Deadline => &mut entry.deadline,
    })
}

pub(super) fn next(slots: &[Slot], chain: Chain, slot: SlotId) -> Option<SlotId> {
    let entry = get(slots, slot)?;
    let link = match chain {
        Chain::Queue => entry.queue,
        Chain::Deadline => entry.deadline,
    };
    Some(link.next).filter(|&next| next != NIL)
}

/// A doubly linked list of slots, threaded through one of their links: O(1) to insert, to unlink
/// and to count, and iterating costs only the slots in it.
#[derive(Clone, Copy, Debug)]
pub(super) struct List {
    pub(super) head: SlotId,
    pub(super) tail: SlotId,
    len: SlotId,
}

impl Default for List {
    fn default() -> List {
        List {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }
}

impl List {
    pub(super) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    /// How many slots the list holds.
    pub(super) fn len(&self) -> usize {
        self.len as usize
    }

    pub(super) fn push_back(&mut self, slots: &mut [Slot], chain: Chain, slot: SlotId) {
        self.insert_after(slots, chain, self.tail, slot);
    }

    /// Inserts `slot` after `after`, or at the front when `after` is `NIL`.
    pub(super) fn insert_after(
        &mut self,
        slots: &mut [Slot],
        chain: Chain,
        after: SlotId,
        slot: SlotId,
    ) {
        let next = match link_mut(slots, chain, after) {
            Some(link) => std::mem::replace(&mut link.next, slot),
            None => std::mem::replace(&mut self.head, slot),
        };
        match link_mut(slots, chain, next) {
            Some(link) => link.prev = slot,
            None => self.tail = slot,
        }
        if let Some(link) = link_mut(slots, chain, slot) {
            *link = Link { prev: after, next };
        }
        self.len = self.len.saturating_add(1);
    }

    pub(super) fn unlink(&mut self, slots: &mut [Slot], chain: Chain, slot: SlotId) {
        let Some(link) =
            link_mut(slots, chain, slot).map(|link| std::mem::replace(link, Link::DETACHED))
        else {
            return;
        };
        match link_mut(slots, chain, link.prev) {
            Some(prev) => prev.next = link.next,
            None => self.head = link.next,
        }
        match link_mut(slots, chain, link.next) {
            Some(next) => next.prev = link.prev,
            None => self.tail = link.prev,
        }
        self.len = self.len.saturating_sub(1);
    }

    pub(super) fn iter<'a>(
        &self,
        slots: &'a [Slot],
        chain: Chain,
    ) -> impl Iterator<Item = SlotId> + 'a {
        let first = Some(self.head).filter(|&head| head != NIL);
        std::iter::successors(first, move |&slot| next(slots, chain, slot))
    }
}
