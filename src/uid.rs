//! [`AttemptUid`]: the controller-minted name of one attempt, and [`UidMinter`], which mints them.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::id::{AttemptId, IdError, TaskId};

/// The name a controller gives one attempt, unique among all attempts: 16 lowercase hex
/// characters on the wire, a `u64` in memory.
///
/// Today's Iris routes everything about an attempt by it: the desired set a controller pushes to
/// a worker, and every observation the worker sends back. An [`AttemptId`] numbers the attempts
/// of one task (0, 1, ...); a uid names one attempt among all of them, so a worker that still
/// runs an attempt from before a restart, or of a job that was removed and submitted again under
/// its old name, can never be mistaken for the current one.
///
/// The crate mints uids (see [`UidMinter`]): every assignment gets one, the table checks it is
/// new, and the durable store keeps it. Attempts that predate uids (a 0.2 store, a seed-era peer
/// that sends none) get [`AttemptUid::legacy`], a fixed function of the task and attempt ids.
///
/// ```
/// use iris_task::AttemptUid;
///
/// let uid: AttemptUid = "00ff00ff00ff00ff".parse()?;
/// assert_eq!(uid.get(), 0x00ff_00ff_00ff_00ff);
/// assert_eq!(uid.to_string(), "00ff00ff00ff00ff");
/// assert!("00FF00FF00FF00FF".parse::<AttemptUid>().is_err(), "Iris writes lowercase");
/// assert!("00ff".parse::<AttemptUid>().is_err(), "always 16 characters");
/// # Ok::<(), iris_task::IdError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptUid(u64);

impl AttemptUid {
    /// The uid whose 16 hex characters spell `value`.
    pub const fn new(value: u64) -> AttemptUid {
        AttemptUid(value)
    }

    /// The uid as a number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The uid of an attempt made before attempts had uids: a 0.2 store's attempts, and a
    /// seed-era message that carries none. It is a fixed hash of the task id and the attempt
    /// id, so every upgrade and every decode of the same attempt gives the same uid, and it
    /// looks like any other uid to a worker.
    ///
    /// ```
    /// use iris_task::{AttemptId, AttemptUid, JobId, TaskId};
    ///
    /// let task = TaskId::new(JobId::new("train")?, 3);
    /// let uid = AttemptUid::legacy(&task, AttemptId::new(0));
    /// assert_eq!(uid, AttemptUid::legacy(&task, AttemptId::new(0)));
    /// assert_ne!(uid, AttemptUid::legacy(&task, AttemptId::new(1)));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    pub fn legacy(task: &TaskId, attempt: AttemptId) -> AttemptUid {
        // FNV-1a over "job\0index\0attempt", then a bijective mix so that nearby ids spread.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &byte in bytes {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        eat(task.job().as_str().as_bytes());
        eat(&[0]);
        eat(&task.index().to_le_bytes());
        eat(&[0]);
        eat(&attempt.get().to_le_bytes());
        AttemptUid(mix(hash))
    }
}

impl fmt::Display for AttemptUid {
    /// 16 lowercase hex characters, as Iris writes them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for AttemptUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AttemptUid({:016x})", self.0)
    }
}

impl FromStr for AttemptUid {
    type Err = IdError;

    /// Exactly 16 characters of `0-9a-f`: what Iris mints (`secrets.token_hex(8)`). Anything
    /// else (upper case, a sign, another length) is [`IdError::BadAttemptUid`], so every uid
    /// the crate accepts prints back as it came.
    fn from_str(text: &str) -> Result<AttemptUid, IdError> {
        let bad = || IdError::BadAttemptUid {
            uid: text.to_owned(),
        };
        let digits: &[u8; 16] = text.as_bytes().try_into().map_err(|_| bad())?;
        // One pass that checks and reads each digit, over a length the compiler knows.
        let mut uid = 0_u64;
        for &digit in digits {
            let value = match digit {
                b'0'..=b'9' => digit - b'0',
                b'a'..=b'f' => digit - b'a' + 10,
                _ => return Err(bad()),
            };
            uid = uid << 4 | u64::from(value);
        }
        Ok(AttemptUid(uid))
    }
}

/// A bijection of `u64` (the finaliser of splitmix64): distinct inputs give distinct outputs.
const fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Mints [`AttemptUid`]s: a counter run through a keyed bijection of `u64`, so that one minter
/// never mints a uid twice, and two minters with different keys mint what look like independent
/// random numbers.
///
/// A [`TaskTable`](crate::TaskTable) holds one and mints a uid at every assignment; a
/// [`Task`](crate::Task) assigned on its own draws from one minter the whole process shares.
/// Both are keyed from the operating system's randomness (through std's `RandomState`), so a
/// restarted controller does not mint its previous run's uids again. The table also checks every
/// uid it mints against the ones it holds, and mints again on a clash, as Iris does.
///
/// Tests that want the same uids on every run seed the minter:
///
/// ```
/// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, UidMinter, WorkerId};
///
/// let mut a = UidMinter::seeded(7);
/// let mut b = UidMinter::seeded(7);
/// assert_eq!(a.mint(), b.mint());
/// assert_ne!(a.mint(), a.mint());
///
/// let mut table = TaskTable::new();
/// table.set_uid_minter(UidMinter::seeded(7));
/// let id = TaskId::new(JobId::new("job")?, 0);
/// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
/// let task = table.assign(&id, WorkerId::new("w1")?, Timestamp::from_millis(1))?;
/// assert_eq!(task.attempts()[0].uid(), UidMinter::seeded(7).mint());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct UidMinter {
    key: [u64; 2],
    next: u64,
}

impl UidMinter {
    /// A minter keyed from the operating system's randomness.
    pub fn random() -> UidMinter {
        UidMinter {
            key: random_key(),
            next: 0,
        }
    }

    /// A minter that mints the same uids, in the same order, for the same `seed`.
    pub fn seeded(seed: u64) -> UidMinter {
        UidMinter {
            key: [mix(seed), mix(seed ^ 0x9e37_79b9_7f4a_7c15)],
            next: 0,
        }
    }

    /// The next uid: never one this minter minted before (the counter would have to wrap
    /// around 2^64 first).
    pub fn mint(&mut self) -> AttemptUid {
        let uid = keyed(self.key, self.next);
        self.next = self.next.wrapping_add(1);
        uid
    }

    /// A uid from the minter the whole process shares (what [`Task::assign`](crate::Task::assign)
    /// uses): unique within the process, keyed at random per process.
    pub fn mint_shared() -> AttemptUid {
        static KEY: OnceLock<[u64; 2]> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let key = *KEY.get_or_init(random_key);
        keyed(key, NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl Default for UidMinter {
    /// [`UidMinter::random`].
    fn default() -> UidMinter {
        UidMinter::random()
    }
}

/// `n` through the keyed bijection: xor, mix, xor.
fn keyed(key: [u64; 2], n: u64) -> AttemptUid {
    AttemptUid(mix(n ^ key[0]) ^ key[1])
}

/// Two random words from std's `RandomState`, which the operating system seeds.
fn random_key() -> [u64; 2] {
    let word = |salt: u64| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.finish()
    };
    [word(1), word(2)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minter_never_repeats_and_seeds_repeat() {
        let mut minter = UidMinter::seeded(1);
        let uids: std::collections::HashSet<_> = (0..10_000).map(|_| minter.mint()).collect();
        assert_eq!(uids.len(), 10_000);
        let mut again = UidMinter::seeded(1);
        let first = again.mint();
        assert_eq!(first, keyed(UidMinter::seeded(1).key, 0));
        assert_ne!(UidMinter::seeded(2).mint(), first);
        assert_ne!(UidMinter::random().mint(), UidMinter::random().mint());
        assert_ne!(UidMinter::mint_shared(), UidMinter::mint_shared());
    }

    #[test]
    fn every_uid_prints_and_parses_back() {
        for value in [0, 1, u64::MAX, 0x0123_4567_89ab_cdef] {
            let uid = AttemptUid::new(value);
            assert_eq!(uid.to_string().len(), 16);
            assert_eq!(uid.to_string().parse::<AttemptUid>(), Ok(uid));
        }
        for bad in [
            "",
            "0123456789abcdeg",
            "0123456789abcde",
            "+123456789abcdef",
            "0123456789ABCDEF",
        ] {
            assert_eq!(
                bad.parse::<AttemptUid>(),
                Err(IdError::BadAttemptUid {
                    uid: bad.to_owned()
                })
            );
        }
    }
}
