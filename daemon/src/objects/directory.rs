//! Which Durable Objects are live, and where: one entry per object (tenant, worker, class, id),
//! each with the definition of its *incarnation*, a Loader definition of its own (the worker's
//! modules, env and limits under a fresh id), so that the pool gives it an isolate of its own.
//!
//! Guarantees:
//! - one incarnation per object at a time: every call for an object made while its entry lives
//!   gets the same definition, so the same isolate (a tenant's Loader workers live in the one
//!   process the cordon gives it, `cordon::place`, one isolate per definition there);
//! - an entry leaves only when no call of it is in flight and it has been idle for the idle
//!   time ([`Directory::idle`]), or when its worker was deleted, or at once when it was made
//!   from a version of its worker that is no longer the current one (a *reset*: its calls in
//!   flight go on, without its storage, and it is disposed once they end,
//!   [`Directory::take_reset`]); the next call makes a new incarnation under a new id (so a
//!   disposal still under way never meets it); a call whose lookup of the version began before
//!   the one that made the live incarnation enters it, never resets it back ([`Version`]);
//! - at most `max_live_per_tenant` entries per tenant and `max_live` in all: a call for an
//!   object beyond them is refused at once with [`Full`] (never queued: a live object waiting
//!   on one that cannot start would wait for ever);
//! - an incarnation's identity is known only here, by its definition's id: the storage calls
//!   and the object's own calls find which object they belong to from the definition the
//!   supervisor attached to the request, never from the payload;
//! - an incarnation's name (`ctx.id.name`) is one whose hash is the object's id
//!   (`name::verified`), else none; a name a caller gave that its file may not keep yet is
//!   handed out once ([`Directory::object_keeping`]) for the object's first storage or socket
//!   call to keep (`name.rs`): once per incarnation at most, never per call.
//!
//! Trusts: its caller to have resolved the key from the calling worker's stored binding.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use stockade_ipc::WorkerId;

use super::name::verified;
use crate::supervisor::WorkerDef;

pub use stockade_source::reserved::OBJECT_ENV_KEY;

/// One object: its tenant, the worker whose class it is (its name when it has one, else its hex
/// id: `WorkerDef::scope`), the class, its hex id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub tenant: String,
    pub worker: String,
    pub class: String,
    pub id: String,
}

impl ObjectKey {
    /// The key of the log ring its calls' console lines go to: its worker's.
    pub fn log_ring(&self) -> String {
        crate::supervisor::log_ring(&self.tenant, &self.worker)
    }
}

/// A version of an object's worker as one call's lookup found it, and when that lookup began:
/// a lookup that began before the one that made the live incarnation (and read the store before
/// a deployment changed, say) finds it made from a newer version, and enters it rather than
/// reset it back.
#[derive(Clone)]
pub struct Version {
    pub def: Arc<WorkerDef>,
    pub looked_up: Instant,
}

/// The directory is full for this call: the message the caller sees.
#[derive(Debug)]
pub struct Full(pub String);

struct Live {
    def: Arc<WorkerDef>,
    /// Of `in_flight`, the open sockets it `accept()`ed ([`Directory::enter_pin`]): they keep it
    /// live, but not once it is reset (their listeners die with it, and the next instance closes
    /// them, `durable-websocket.js`).
    pins: usize,
    /// The worker's definition the incarnation was made from (a deleted one ends it).
    parent: Arc<WorkerDef>,
    /// When the latest lookup that found `parent` began (`Version::looked_up`).
    looked_up: Instant,
    in_flight: usize,
    last_used: Instant,
    /// A verified name a caller gave, for the object's file to keep (taken once).
    keep: Option<String>,
    /// Whether a name is known for it (given, read from its file, or handed out to keep).
    named: bool,
}

/// The live objects.
#[derive(Default)]
pub struct Directory {
    live: HashMap<ObjectKey, Live>,
    by_def: HashMap<WorkerId, ObjectKey>,
    /// Incarnations reset because their worker has a new version, by id, with their calls still
    /// in flight: kept until those end (so their late storage calls are told why), then handed
    /// out to dispose ([`Directory::take_reset`]).
    reset: HashMap<WorkerId, (Arc<WorkerDef>, usize)>,
    per_tenant: HashMap<String, usize>,
    made: u64,
}

/// Whether `s` is an object id: 64 lowercase hex digits.
pub fn valid_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Directory {
    /// The incarnation of `key` (made from `parent` if it has none), counted as in flight until
    /// [`Directory::leave`]; `name` is the name a caller says its id was made from, if any (taken
    /// only if it did make it).
    pub fn enter(
        &mut self,
        key: &ObjectKey,
        name: Option<&str>,
        parent: &Version,
        caps: (usize, usize),
    ) -> Result<Arc<WorkerDef>, Full> {
        self.enter_named(key, name, true, parent, caps)
    }

    /// [`Directory::enter`] for an event's call (an alarm, a WebSocket's): `stored` is the name
    /// the object's file keeps (`name.rs`), so nothing to keep again.
    pub fn enter_stored(
        &mut self,
        key: &ObjectKey,
        stored: Option<&str>,
        parent: &Version,
        caps: (usize, usize),
    ) -> Result<Arc<WorkerDef>, Full> {
        self.enter_named(key, stored, false, parent, caps)
    }

    /// The live incarnation of `key` if it has one made from `parent` (one made from another
    /// version is reset, as [`Directory::enter`] resets it), counted as `enter` counts it.
    pub fn enter_current(&mut self, key: &ObjectKey, parent: &Version) -> Option<Arc<WorkerDef>> {
        self.retire_superseded(key, parent);
        self.enter_live(key)
    }

    /// The live incarnation of `key`, if it has one, counted as [`Directory::enter`] counts it.
    pub fn enter_live(&mut self, key: &ObjectKey) -> Option<Arc<WorkerDef>> {
        let live = self.live.get_mut(key)?;
        live.in_flight += 1;
        live.last_used = Instant::now();
        Some(Arc::clone(&live.def))
    }

    fn enter_named(
        &mut self,
        key: &ObjectKey,
        name: Option<&str>,
        keep: bool,
        parent: &Version,
        caps: (usize, usize),
    ) -> Result<Arc<WorkerDef>, Full> {
        let name = name.filter(|n| verified(key, n));
        self.retire_superseded(key, parent);
        if let Some(live) = self.live.get_mut(key) {
            live.in_flight += 1;
            live.last_used = Instant::now();
            if let (Some(n), false) = (name, live.named) {
                // Made nameless (its instance keeps that), but its file may learn the name.
                live.named = true;
                live.keep = keep.then(|| n.to_owned());
            }
            return Ok(Arc::clone(&live.def));
        }
        let (per_tenant, total) = caps;
        let mine = self.per_tenant.get(&key.tenant).copied().unwrap_or(0);
        if mine >= per_tenant {
            return Err(Full(format!(
                "this tenant has {mine} Durable Objects live, the most it may ([durable_objects] max_live_per_tenant); \
                 an idle one is evicted after [durable_objects] idle_ms"
            )));
        }
        if self.live.len() >= total {
            return Err(Full(format!(
                "the daemon has {} Durable Objects live, the most it may ([durable_objects] max_live)",
                self.live.len()
            )));
        }
        self.made += 1;
        let def = Arc::new(incarnation(key, name, &parent.def, self.made));
        self.by_def.insert(def.id, key.clone());
        *self.per_tenant.entry(key.tenant.clone()).or_default() += 1;
        self.live.insert(
            key.clone(),
            Live {
                def: Arc::clone(&def),
                parent: Arc::clone(&parent.def),
                looked_up: parent.looked_up,
                in_flight: 1,
                pins: 0,
                last_used: Instant::now(),
                keep: name.filter(|_| keep).map(str::to_owned),
                named: name.is_some(),
            },
        );
        Ok(def)
    }

    /// A call [`Directory::enter`] counted for incarnation `def` is over (nothing, if `def` was
    /// reset since).
    pub fn leave(&mut self, key: &ObjectKey, def: &WorkerId) {
        if let Some(live) = self.live.get_mut(key).filter(|l| l.def.id == *def) {
            live.in_flight = live.in_flight.saturating_sub(1);
            live.last_used = Instant::now();
        } else if let Some((_, in_flight)) = self.reset.get_mut(def) {
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    /// Resets `key`'s incarnation if it was made from another definition than `parent`: its
    /// worker's name has another current version (or its version was deleted), as Cloudflare
    /// restarts an object on a deploy. Its calls in flight finish without its storage (no longer
    /// its: `object_of`); the next is the new version's. It is disposed once they end.
    /// A lookup that began before the live incarnation's (`parent.looked_up`) is older than it:
    /// the call enters the live one, made from the newer version.
    fn retire_superseded(&mut self, key: &ObjectKey, parent: &Version) {
        let Some(live) = self.live.get_mut(key) else {
            return;
        };
        let deleted = live
            .parent
            .deleted
            .load(std::sync::atomic::Ordering::Relaxed);
        if live.parent.id == parent.def.id || (parent.looked_up < live.looked_up && !deleted) {
            live.looked_up = live.looked_up.max(parent.looked_up);
            return;
        }
        if let Some(live) = self.live.remove(key) {
            self.by_def.remove(&live.def.id);
            if let Some(n) = self.per_tenant.get_mut(&key.tenant) {
                *n = n.saturating_sub(1);
            }
            let calls = live.in_flight.saturating_sub(live.pins);
            self.reset.insert(live.def.id, (live.def, calls));
        }
    }

    /// An open socket that `key`'s live incarnation `def` `accept()`ed keeps it live (false, and
    /// nothing, if `def` is no longer its live incarnation); ended by [`Directory::leave_pin`].
    pub fn enter_pin(&mut self, key: &ObjectKey, def: &WorkerId) -> bool {
        let Some(live) = self.live.get_mut(key).filter(|l| l.def.id == *def) else {
            return false;
        };
        live.in_flight += 1;
        live.pins += 1;
        true
    }

    /// The socket of [`Directory::enter_pin`] ended (nothing if `def` was reset since).
    pub fn leave_pin(&mut self, key: &ObjectKey, def: &WorkerId) {
        if let Some(live) = self.live.get_mut(key).filter(|l| l.def.id == *def) {
            live.in_flight = live.in_flight.saturating_sub(1);
            live.pins = live.pins.saturating_sub(1);
            live.last_used = Instant::now();
        }
    }

    /// The reset incarnations whose calls have all ended, to dispose (taken out).
    pub fn take_reset(&mut self) -> Vec<Arc<WorkerDef>> {
        let done: Vec<WorkerId> = self
            .reset
            .iter()
            .filter(|(_, (_, in_flight))| *in_flight == 0)
            .map(|(id, _)| *id)
            .collect();
        done.iter()
            .filter_map(|id| self.reset.remove(id).map(|(def, _)| def))
            .collect()
    }

    /// Whether `def` is an incarnation reset for a new version, with calls still in flight.
    pub fn was_reset(&self, def: &WorkerId) -> bool {
        self.reset.contains_key(def)
    }

    /// Which object the incarnation `def` is, while it is live.
    pub fn object_of(&self, def: &WorkerId) -> Option<&ObjectKey> {
        self.by_def.get(def)
    }

    /// The worker version the live incarnation `def` was made from.
    pub fn version_of(&self, def: &WorkerId) -> Option<Arc<WorkerDef>> {
        let key = self.by_def.get(def)?;
        self.live.get(key).map(|l| Arc::clone(&l.parent))
    }

    /// [`Directory::object_of`], and (once) the verified name a caller gave it that its file is
    /// to keep (`name.rs`).
    pub fn object_keeping(&mut self, def: &WorkerId) -> Option<(ObjectKey, Option<String>)> {
        let key = self.by_def.get(def)?;
        let keep = self.live.get_mut(key).and_then(|l| l.keep.take());
        Some((key.clone(), keep))
    }

    /// Takes out every entry idle for `idle` (no call in flight) or whose worker was deleted:
    /// their keys and incarnations, to dispose.
    pub fn idle(&mut self, idle: Duration) -> Vec<(ObjectKey, Arc<WorkerDef>)> {
        let now = Instant::now();
        let gone: Vec<ObjectKey> = self
            .live
            .iter()
            .filter(|(_, l)| {
                l.in_flight == 0
                    && (now.duration_since(l.last_used) >= idle
                        || l.parent.deleted.load(std::sync::atomic::Ordering::Relaxed))
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::with_capacity(gone.len());
        for key in gone {
            if let Some(live) = self.live.remove(&key) {
                self.by_def.remove(&live.def.id);
                if let Some(n) = self.per_tenant.get_mut(&key.tenant) {
                    *n = n.saturating_sub(1);
                }
                out.push((key, live.def));
            }
        }
        out
    }
}

/// The definition of a new incarnation of `key`: `parent`'s code, env (plus the object's
/// identity), bindings, limits and outbound, under an id no other definition has.
fn incarnation(key: &ObjectKey, name: Option<&str>, parent: &WorkerDef, n: u64) -> WorkerDef {
    let mut h = Sha256::new();
    for part in [
        "stockade-object",
        key.tenant.as_str(),
        key.worker.as_str(),
        key.class.as_str(),
        key.id.as_str(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.update(n.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    let mut env: Vec<(String, serde_json::Value)> = parent
        .env
        .iter()
        .filter(|(k, _)| k != OBJECT_ENV_KEY)
        .cloned()
        .collect();
    env.push((
        OBJECT_ENV_KEY.to_owned(),
        serde_json::json!({"class": key.class, "id": key.id, "name": name}),
    ));
    WorkerDef {
        id: WorkerId(h.finalize().into()),
        tenant: parent.tenant.clone(),
        // Its worker's name: its calls and console lines are that name's, also once reset.
        name: parent.name.clone(),
        main_module: parent.main_module.clone(),
        modules: parent.modules.clone(),
        env,
        bindings: Arc::clone(&parent.bindings),
        limits: parent.limits,
        event_wall_ms: parent.event_wall_ms,
        compatibility_date: parent.compatibility_date.clone(),
        compatibility_flags: parent.compatibility_flags.clone(),
        features: parent.features,
        outbound: parent.outbound.clone(),
        crons: Vec::new(),
        queues: Vec::new(),
        deleted: AtomicBool::new(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent() -> Arc<WorkerDef> {
        Arc::new(WorkerDef {
            id: WorkerId([7; 32]),
            tenant: "t".into(),
            name: None,
            main_module: "m.js".into(),
            modules: Vec::new(),
            env: vec![("A".into(), serde_json::json!(1))],
            bindings: Arc::default(),
            limits: stockade_ipc::Limits::default(),
            event_wall_ms: None,
            compatibility_date: None,
            compatibility_flags: Vec::new(),
            features: Default::default(),
            outbound: Default::default(),
            crons: Vec::new(),
            queues: Vec::new(),
            deleted: AtomicBool::new(false),
        })
    }

    /// `def` as a lookup that begins now finds it.
    fn now(def: &Arc<WorkerDef>) -> Version {
        Version {
            def: Arc::clone(def),
            looked_up: Instant::now(),
        }
    }

    fn key(tenant: &str, id: char) -> ObjectKey {
        ObjectKey {
            tenant: tenant.into(),
            worker: "w".into(),
            class: "C".into(),
            id: id.to_string().repeat(64),
        }
    }

    #[test]
    fn one_incarnation_per_object_until_idle_and_caps_refuse() {
        let mut d = Directory::default();
        let p = parent();
        let a = d
            .enter(&key("t", 'a'), Some("n"), &now(&p), (2, 10))
            .expect("room");
        let again = d
            .enter(&key("t", 'a'), None, &now(&p), (2, 10))
            .expect("live");
        assert!(Arc::ptr_eq(&a, &again), "the same incarnation");
        assert_eq!(d.object_of(&a.id), Some(&key("t", 'a')));
        assert!(a.env.iter().any(|(k, _)| k == OBJECT_ENV_KEY));
        d.enter(&key("t", 'b'), None, &now(&p), (2, 10))
            .expect("room");
        let full = d.enter(&key("t", 'c'), None, &now(&p), (2, 10));
        assert!(full.is_err(), "the tenant's cap");
        d.enter(&key("u", 'c'), None, &now(&p), (2, 10))
            .expect("another tenant");
        // In flight: never idle.
        assert!(d.idle(Duration::ZERO).is_empty());
        d.leave(&key("t", 'a'), &a.id);
        d.leave(&key("t", 'a'), &a.id);
        let gone = d.idle(Duration::ZERO);
        assert_eq!(gone.len(), 1);
        assert!(d.object_of(&a.id).is_none());
        let b = d
            .enter(&key("t", 'a'), None, &now(&p), (2, 10))
            .expect("room again");
        assert_ne!(a.id, b.id, "a new incarnation, a new id");
        assert!(valid_id(&"a".repeat(64)) && !valid_id(&"A".repeat(64)) && !valid_id("ab"));
    }

    #[test]
    fn only_the_name_that_made_the_id_is_taken_and_handed_out_once_to_keep() {
        let mut d = Directory::default();
        let p = parent();
        // sha256("stockade-do\0Clock\0room-7"), as durable.js's idFromName("room-7").
        let k = ObjectKey {
            tenant: "t".into(),
            worker: "w".into(),
            class: "Clock".into(),
            id: "ed2f0fbc7d5580ff8e964d4f968c1c41e74eba2c4fce4dafd1850b4db36b6984".into(),
        };
        let name_of = |def: &WorkerDef| {
            def.env
                .iter()
                .find(|(e, _)| e == OBJECT_ENV_KEY)
                .map(|(_, v)| v["name"].clone())
        };
        // A name that did not make the id is dropped: nameless, nothing to keep.
        let forged = d.enter(&k, Some("room-8"), &now(&p), (9, 9)).expect("room");
        assert_eq!(name_of(&forged), Some(serde_json::Value::Null));
        assert_eq!(d.object_keeping(&forged.id), Some((k.clone(), None)));
        // The live nameless incarnation stays so, but its file is to learn the name, once.
        let again = d.enter(&k, Some("room-7"), &now(&p), (9, 9)).expect("live");
        assert!(Arc::ptr_eq(&forged, &again));
        assert_eq!(
            d.object_keeping(&forged.id),
            Some((k.clone(), Some("room-7".into())))
        );
        assert_eq!(d.object_keeping(&forged.id), Some((k.clone(), None)));
        for _ in 0..2 {
            d.leave(&k, &forged.id);
        }
        assert_eq!(d.idle(Duration::ZERO).len(), 1);
        // An event's incarnation, named as the file keeps it: nothing to keep again.
        assert!(d.enter_live(&k).is_none());
        let stored = d
            .enter_stored(&k, Some("room-7"), &now(&p), (9, 9))
            .expect("room");
        assert_eq!(name_of(&stored), Some(serde_json::json!("room-7")));
        assert_eq!(d.object_keeping(&stored.id), Some((k.clone(), None)));
        let live = d.enter_live(&k).expect("live");
        assert!(Arc::ptr_eq(&stored, &live));
        d.leave(&k, &stored.id);
        d.leave(&k, &stored.id);
        assert_eq!(d.idle(Duration::ZERO).len(), 1);
        // A caller's verified name: the incarnation's, and handed out to keep.
        let named = d.enter(&k, Some("room-7"), &now(&p), (9, 9)).expect("room");
        assert_eq!(name_of(&named), Some(serde_json::json!("room-7")));
        assert_eq!(
            d.object_keeping(&named.id),
            Some((k.clone(), Some("room-7".into())))
        );
    }

    #[test]
    fn a_new_version_of_the_worker_resets_the_incarnation_kept_until_its_calls_end() {
        let mut d = Directory::default();
        let (v1, v2) = two_versions();
        let k = key("t", 'a');
        let old = d.enter(&k, None, &now(&v1), (1, 1)).expect("room");
        // The same version: the same incarnation.
        let same = d.enter(&k, None, &now(&v1), (1, 1)).expect("live");
        assert!(Arc::ptr_eq(&old, &same));
        // A new version: a new incarnation at once, within the caps (the old one's place is
        // freed), while the old one's calls are still in flight.
        let new = d
            .enter(&k, None, &now(&v2), (1, 1))
            .expect("the old one's place");
        assert_ne!(old.id, new.id);
        assert!(
            d.object_of(&old.id).is_none(),
            "no storage for the reset one"
        );
        assert_eq!(d.object_of(&new.id), Some(&k));
        assert!(d.was_reset(&old.id) && !d.was_reset(&new.id));
        // Its calls in flight keep it (and what late storage calls are told) until they end.
        assert!(d.take_reset().is_empty() && d.was_reset(&old.id));
        d.leave(&k, &old.id);
        assert!(d.take_reset().is_empty() && d.was_reset(&old.id));
        // The old one's calls ending leave the new one in flight.
        d.leave(&k, &old.id);
        assert!(
            d.idle(Duration::ZERO).is_empty(),
            "the new call is in flight"
        );
        let reset = d.take_reset();
        assert_eq!(reset.len(), 1);
        assert_eq!(reset[0].id, old.id);
        assert!(d.take_reset().is_empty() && !d.was_reset(&old.id));
        d.leave(&k, &new.id);
        assert_eq!(d.idle(Duration::ZERO).len(), 1);
        // An event's entry (`enter_current`) resets one made from another version too.
        let old = d.enter(&k, None, &now(&v1), (1, 1)).expect("room");
        assert!(
            d.enter_current(&k, &now(&v2)).is_none(),
            "reset, not entered"
        );
        assert!(d.object_of(&old.id).is_none() && d.was_reset(&old.id));
        d.leave(&k, &old.id);
        assert_eq!(d.take_reset().len(), 1);
        let new = d
            .enter(&k, None, &now(&v2), (1, 1))
            .expect("the old one's place");
        let again = d.enter_current(&k, &now(&v2)).expect("live and current");
        assert!(Arc::ptr_eq(&new, &again));
        d.leave(&k, &new.id);
        d.leave(&k, &new.id);
        // An open socket it accepted pins it (never idle), until it closes, or until it is reset:
        // then only its calls keep it from being disposed.
        assert!(!d.enter_pin(&k, &old.id), "not the live incarnation");
        assert!(d.enter_pin(&k, &new.id), "pinned");
        assert!(d.idle(Duration::ZERO).is_empty(), "pinned");
        d.leave_pin(&k, &new.id);
        assert_eq!(d.idle(Duration::ZERO).len(), 1, "unpinned");
        let pinned = d.enter(&k, None, &now(&v2), (1, 1)).expect("room");
        assert!(d.enter_pin(&k, &pinned.id), "pinned");
        d.leave(&k, &pinned.id);
        assert!(
            d.enter_current(&k, &now(&v1)).is_none(),
            "reset by another version"
        );
        let reset = d.take_reset();
        assert_eq!(reset.len(), 1, "its pin does not keep it");
        d.leave_pin(&k, &pinned.id); // its socket ends later: nothing counts it
        assert!(d.take_reset().is_empty() && d.idle(Duration::ZERO).is_empty());
    }

    /// Reviewer M3 of session 31: a lookup that found v1 before a deployment moved the object to
    /// v2, entering after v2's incarnation was made, used to reset it back to v1 (and the next
    /// call reset it again).
    #[test]
    fn a_lookup_older_than_the_live_incarnations_enters_it_and_never_resets_it_back() {
        let mut d = Directory::default();
        let (v1, v2) = two_versions();
        let k = key("t", 'a');
        let slow = now(&v1); // began before the deployment moved the object to v2
        let first = d.enter(&k, None, &now(&v1), (9, 9)).expect("room");
        let newer = d.enter(&k, None, &now(&v2), (9, 9)).expect("reset to v2");
        assert_ne!(first.id, newer.id);
        assert_eq!(d.take_reset().len(), 0, "its call is still in flight");
        // The slow lookup enters v2's incarnation: no reset, for a call or an event.
        let entered = d.enter(&k, None, &slow, (9, 9)).expect("live");
        assert!(Arc::ptr_eq(&entered, &newer), "v2's incarnation");
        let event = d.enter_current(&k, &slow).expect("live");
        assert!(Arc::ptr_eq(&event, &newer));
        assert!(!d.was_reset(&newer.id));
        assert_eq!(d.version_of(&newer.id).map(|v| v.id), Some(v2.id));
        // Unless v2 was deleted meanwhile: then even the older lookup resets it.
        v2.deleted.store(true, std::sync::atomic::Ordering::Relaxed);
        let kept = d.enter(&k, None, &slow, (9, 9)).expect("reset to v1");
        assert_ne!(kept.id, newer.id);
        assert!(d.was_reset(&newer.id));
        v2.deleted
            .store(false, std::sync::atomic::Ordering::Relaxed);
        // A lookup that begins later and finds v2 again does reset it.
        let again = d.enter(&k, None, &now(&v2), (9, 9)).expect("reset to v2");
        assert_ne!(again.id, kept.id);
        assert!(d.was_reset(&kept.id));
    }

    /// Two versions of one worker: the test parent, and another id.
    fn two_versions() -> (Arc<WorkerDef>, Arc<WorkerDef>) {
        let v1 = parent();
        let v2 = Arc::new(WorkerDef {
            id: WorkerId([8; 32]),
            ..clone_def(&v1)
        });
        (v1, v2)
    }

    fn clone_def(d: &WorkerDef) -> WorkerDef {
        WorkerDef {
            id: d.id,
            tenant: d.tenant.clone(),
            name: d.name.clone(),
            main_module: d.main_module.clone(),
            modules: d.modules.clone(),
            env: d.env.clone(),
            bindings: Arc::clone(&d.bindings),
            limits: d.limits,
            event_wall_ms: d.event_wall_ms,
            compatibility_date: d.compatibility_date.clone(),
            compatibility_flags: d.compatibility_flags.clone(),
            features: d.features,
            outbound: d.outbound.clone(),
            crons: d.crons.clone(),
            queues: d.queues.clone(),
            deleted: AtomicBool::new(false),
        }
    }
}
