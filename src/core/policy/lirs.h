// LIRS, Low Inter-reference Recency Set (Jiang and Zhang, SIGMETRICS '02), as libCacheSim's
// LIRS.c implements it, so that an item-bounded shard reproduces libCacheSim's miss ratios.
//
// Blocks are LIR (hot, about 99% of the capacity) or HIR. Stack S orders recently used blocks by
// recency: every LIR block, plus HIR entries that are resident or not ("ghosts", key hashes of
// evicted blocks). Queue Q holds every resident HIR block; its oldest one is the victim. A hit on
// an HIR block that is still in S means its reuse distance beat the oldest LIR block's, so it
// becomes LIR and the bottom LIR block drops to Q. The same happens on a miss for a ghost in S.
// A new key is LIR while the LIR set has room, HIR otherwise. S is pruned so that its bottom is
// always LIR, and it is capped at twice the capacity by dropping the oldest ghosts (in the order
// they became ghosts), as libCacheSim does. Q gets max(1, capacity / 100), LIR the rest.
// libCacheSim's demotion of an LIR block on a hit to an HIR block that is in Q but not in S is
// not reproduced (it moves the reference miss ratios by at most 0.001): that hit only refreshes
// the block in Q and pushes it onto S, as in the paper.
//
// Structure. An item has one pair of links. LIR items use theirs for S and HIR items for Q, so
// every resident item is in exactly one intrusive list. The other entries of S (ghosts, and HIR
// items that are also in S) need no position in it: such an entry is in S exactly when it was
// referenced after the bottom LIR block was. So they are fingerprints stamped with the epoch of
// their last reference, in a StackEntryTable (stack_entry_table.h), where an epoch is about
// capacity / 128 pushes onto S. The table needs from S only the epoch of its bottom LIR block,
// and markers give it: each epoch starts by pushing a marker node onto S. Markers have no
// position among the LIR items of their own: those between two neighbouring LIR items form a
// "run", a circular list hung off the older of the two (found through a table keyed by the
// anchor's ItemRef; a policy-byte bit says whether an item has one), and those below the bottom
// LIR item form the bottom run. Moving or removing an LIR item splices its run onto its older
// neighbour's. Pruning S is emptying the bottom run: its newest marker is the bottom block's
// epoch, and every entry stamped then or earlier is dead (entries of that epoch referenced
// after the block are lost too; in a loop, where every reference comes round in the same order,
// keeping them instead would promote keys that LIRS keeps out). Entries become ghosts in the
// order they were referenced, so capping S is dropping the table's oldest epochs. Every
// operation is O(1), plus amortized O(1) per marker. Against the exact stack, this is off by
// epoch resolution at the bottom, by up to one epoch's entries at the cap (which may also drop
// an HIR item's entry, where upstream drops only ghosts), by a bucket dropping its oldest entry
// when full, by fingerprint collisions, and by entries living at most StackEntryTable::kRing
// epochs (8 times the capacity in pushes). Replaying the six reference traces at 1-20% sizes
// (docs/design.md, "The default policy") moved no miss ratio by more than 0.0004 and their mean
// by less than 0.0001.
//
// Memory: LIR and Q-only HIR items cost nothing beyond their header. S holds at most twice as
// many entries as the cache holds items, hence at most about one table entry per item; the
// table has 1.25 4-byte slots per item of the capacity (4 per item below 4,096 items): 5 bytes
// per item. Markers are at most 1,023 24-byte nodes, plus as many run headers and their 4-byte
// hash-set slots: up to about 64 KiB per shard. A byte-bounded shard charges all of it to its
// budget through metadata_bytes(), so it keeps at most one marker per 3 KB it holds (~1.6%;
// epochs then grow so that the markers still span 8x the items in pushes), and allocates nodes
// 64 at a time. kvcache-bench memory (16-byte keys, 64-byte values) measured 30.6 bytes of
// overhead per item at 1M items and 28.5 to 29.1 at 10M, against 25.9 and 26.3 for LRU on the
// same machine.
//
// Weights: the LIR and Q limits are in weight units, and the cap on S is in entries (twice the
// target below divided by the average resident weight). A byte-bounded shard also charges the
// index and this metadata to its capacity, so the room for items is smaller than the capacity,
// and it changes. Limits taken from the capacity would never let the LIR set fill: Q would stay
// empty and every victim would be the bottom LIR block, LRU in effect. They come from a target
// instead: the resident weight whenever the shard has to evict to make room, raised by one item
// whenever an insert reaches the target without that. Room lost later (the LIR set filling
// everything before the first eviction showed the real room) still comes out of the LIR set
// once Q is empty. An item-bounded shard evicts exactly when it holds its capacity, so its target
// stays at the capacity and the limits are libCacheSim's.
#pragma once

#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/policy/policy.h"
#include "core/policy/stack_entry_table.h"

namespace kvcache::internal {

class LirsPolicy {
 public:
  static constexpr const char* kName = "lirs";
  static constexpr bool kBufferedHits = true;
  // SetCapacity only caps the target, which follows the room the shard finds (see the top).
  static constexpr bool kLimitsFollowTheRoom = true;

  explicit LirsPolicy(const PolicyContext* c) : c_(c), runs_(0, NodeHash{this}, NodeEq{this}) {
    ResetBottom();
  }
  // The hash set's functors point back at this object.
  LirsPolicy(const LirsPolicy&) = delete;
  LirsPolicy& operator=(const LirsPolicy&) = delete;

  static void OnReadHit(Item*) {}

  void SetCapacity(uint64_t capacity) {
    capacity_ = std::max<uint64_t>(capacity, 1);
    SetTarget(capacity_);
  }

  // libCacheSim decides here, before the evictions that make room: a ghost comes back as LIR
  // (so the bottom LIR block is demoted now), and a new key that will be HIR makes room in Q.
  void BeforeInsert(uint64_t hash) {
    const uint64_t w = AverageWeight();
    announced_ = true;
    announced_hash_ = hash;
    // The key is not resident, so an entry for it is a ghost.
    returning_ = table_.Take(hash);
    if (returning_) {
      while (lirs_.weight + w > lir_limit_ && DemoteBottomLir()) {
      }
    } else if (lirs_.weight + w > lir_limit_) {
      while (!hirs_.empty() && hirs_.weight + w > hir_limit_) pending_.push_back(EvictHir());
    }
  }

  void Insert(ItemRef r, uint64_t hash) {
    const uint64_t w = c_->Weight(r);
    bool returning = returning_;
    if (!announced_ || hash != announced_hash_) {
      // No BeforeInsert: an overwrite whose old item was the victim that made room. If that
      // left a ghost, the key comes back as any returning ghost does.
      returning = table_.Take(hash);
    }
    announced_ = returning_ = false;
    if (returning || lirs_.weight + w <= lir_limit_) {
      PushLir(r, w);
    } else {
      c_->At(r)->set_policy_byte(0);
      hirs_.PushHead(*c_, r, w);
      PushHirEntry(r, hash);
    }
    // No eviction was needed to get here, so the target may be too low (see the top).
    const uint64_t resident = lirs_.weight + hirs_.weight;
    if (resident >= target_ && target_ < capacity_) SetTarget(std::min(capacity_, resident + w));
    LimitStack();
  }

  void Touch(ItemRef r) {
    Item* it = c_->At(r);
    const uint8_t bits = it->policy_byte();
    if (bits & kLir) {
      MoveLirToTop(r);
      Prune();
    } else if ((bits & kInS) && table_.Take(c_->HashOf(r))) {
      // Its reuse distance is below the bottom LIR block's: it takes that block's place.
      const uint64_t w = c_->Weight(r);
      hirs_.Remove(*c_, r, w);
      PushLir(r, w);
      while (lirs_.weight > lir_limit_ && lirs_.tail != r && DemoteBottomLir()) {
      }
    } else {
      hirs_.MoveToHead(*c_, r);
      PushHirEntry(r, c_->HashOf(r));
    }
    LimitStack();
  }

  void Remove(ItemRef r) {
    Item* it = c_->At(r);
    const uint8_t bits = it->policy_byte();
    const uint64_t w = c_->Weight(r);
    if (bits & kLir) {
      RemoveLir(r, w);
      Prune();  // it may have been the bottom of S
    } else {
      hirs_.Remove(*c_, r, w);
      if (bits & kInS) table_.Take(c_->HashOf(r));
    }
    it->set_policy_byte(0);
  }

  void Replace(ItemRef from, ItemRef to) {
    Item* f = c_->At(from);
    const uint8_t bits = f->policy_byte();
    const uint64_t wf = c_->Weight(from);
    const uint64_t wt = c_->Weight(to);
    c_->At(to)->set_policy_byte(bits);
    if (bits & kLir) {
      lirs_.ReplaceNode(*c_, from, to, wf, wt);
      if (bits & kHasRun) {
        const uint32_t h = FindRun(from);
        runs_.erase(h);
        node(h).key = to;
        runs_.insert(h);
      }
    } else {
      // An entry in S is found by key hash, and the key is the same.
      hirs_.ReplaceNode(*c_, from, to, wf, wt);
    }
    f->set_policy_byte(0);
    Touch(to);
  }

  // Called only when the shard has no room: Q's oldest block, as the LIRS logic would pick, or
  // the bottom LIR block once Q is empty. Either way the resident weight is what fits now.
  ItemRef Evict() {
    const uint64_t resident = lirs_.weight + hirs_.weight;
    if (resident != 0) SetTarget(std::min(capacity_, resident));
    if (!hirs_.empty()) return EvictHir();
    Prune();
    const ItemRef v = lirs_.tail;
    if (v == kNullRef) return kNullRef;
    RemoveLir(v, c_->Weight(v));
    c_->At(v)->set_policy_byte(0);
    Prune();
    return v;
  }

  // Blocks evicted from Q because a hit or a returning ghost demoted an LIR block into it.
  ItemRef TakePendingVictim() {
    if (pending_.empty()) return kNullRef;
    const ItemRef v = pending_.back();
    pending_.pop_back();
    return v;
  }

  size_t metadata_bytes() const {
    return table_.memory_bytes() + blocks_.size() * kBlockNodes * sizeof(Node) +
           blocks_.capacity() * sizeof(void*) + runs_.capacity() * (sizeof(uint32_t) + 1) +
           pending_.capacity() * sizeof(ItemRef);
  }

  void Clear() {
    lirs_.Clear();
    hirs_.Clear();
    table_.Clear();
    runs_ = NodeSet(0, NodeHash{this}, NodeEq{this});
    blocks_.clear();
    blocks_.shrink_to_fit();
    used_nodes_ = 0;
    free_ = kNil;
    markers_ = 0;
    pushes_ = 0;
    pending_.clear();
    announced_ = returning_ = false;
    SetTarget(capacity_);
    ResetBottom();
  }

  // For tests.
  const ItemList& lirs() const { return lirs_; }
  const ItemList& hirs() const { return hirs_; }
  uint64_t stack_size() const { return lirs_.count + table_.live(); }
  // Whether the key has an entry in S other than an LIR item's.
  bool InStack(uint64_t hash) const { return table_.Contains(hash); }
  uint32_t markers() const { return markers_; }
  size_t runs() const { return runs_.size(); }
  uint64_t lir_limit() const { return lir_limit_; }
  uint64_t hir_limit() const { return hir_limit_; }

 private:
  // Policy byte bits. An item with none is a Q-only HIR block.
  static constexpr uint8_t kLir = 1;     // LIR: in S through its links
  static constexpr uint8_t kInS = 2;     // HIR that was given an entry in S (it may have died)
  static constexpr uint8_t kHasRun = 4;  // LIR with a non-empty run above it

  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr uint32_t kMarker = UINT32_MAX - 1;  // Node::tag of a marker
  static constexpr uint32_t kHeader = UINT32_MAX - 2;  // Node::tag of a run header
  static constexpr uint32_t kBottom = UINT32_MAX - 3;  // the bottom run's header, a member
  static constexpr uint32_t kBlockShift = 6;
  static constexpr uint32_t kBlockNodes = 1u << kBlockShift;
  static constexpr uint32_t kRing = StackEntryTable::kRing;
  // Older markers would name epochs whose entries are dead anyway.
  static constexpr uint32_t kMaxMarkers = kRing - 1;
  // A byte-bounded shard affords one marker per this many bytes it holds (a marker, its run's
  // header and their hash-set slot cost ~50 bytes: ~1.6%), at least kMinMarkers.
  static constexpr uint64_t kBytesPerMarker = 3072;
  static constexpr uint32_t kMinMarkers = 8;
  // Epochs per capacity: the resolution of the bottom of S.
  static constexpr uint64_t kEpochsPerCapacity = 128;

  // A marker, or the header of a run. A run is circular through its header: header.next is its
  // newest (topmost) marker, header.prev its oldest.
  struct Node {
    uint64_t key;   // a marker's epoch; a header's anchor ItemRef
    uint32_t prev;  // toward the top of S (newer)
    uint32_t next;  // toward the bottom of S (older)
    uint32_t link;  // free: the next free node
    uint32_t tag;   // kMarker or kHeader
  };

  // A hash set of run header indices, looked up by anchor, so that a slot costs 4 bytes.
  struct ByKey {
    uint64_t key;
  };
  struct NodeHash {
    using is_transparent = void;
    const LirsPolicy* p;
    size_t operator()(uint32_t n) const { return absl::HashOf(p->node(n).key); }
    size_t operator()(ByKey k) const { return absl::HashOf(k.key); }
  };
  struct NodeEq {
    using is_transparent = void;
    const LirsPolicy* p;
    bool operator()(uint32_t a, uint32_t b) const { return p->node(a).key == p->node(b).key; }
    bool operator()(uint32_t a, ByKey b) const { return p->node(a).key == b.key; }
    bool operator()(ByKey a, uint32_t b) const { return a.key == p->node(b).key; }
  };
  using NodeSet = absl::flat_hash_set<uint32_t, NodeHash, NodeEq>;

  Node& node(uint32_t n) {
    return n == kBottom ? bottom_ : blocks_[n >> kBlockShift][n & (kBlockNodes - 1)];
  }
  const Node& node(uint32_t n) const {
    return n == kBottom ? bottom_ : blocks_[n >> kBlockShift][n & (kBlockNodes - 1)];
  }

  // Fixed-size blocks rather than one vector: node references stay valid.
  uint32_t NewNode(uint64_t key, uint32_t tag) {
    uint32_t n = free_;
    if (n != kNil) {
      free_ = node(n).link;
    } else {
      if ((used_nodes_ & (kBlockNodes - 1)) == 0) {
        blocks_.push_back(std::make_unique<Node[]>(kBlockNodes));
      }
      n = used_nodes_++;
    }
    Node& x = node(n);
    x.key = key;
    x.tag = tag;
    return n;
  }
  void FreeNode(uint32_t n) {
    node(n).link = free_;
    free_ = n;
  }

  void ResetBottom() { bottom_ = Node{kNullRef, kBottom, kBottom, kNil, kHeader}; }

  void SetTarget(uint64_t target) {
    target_ = target;
    hir_limit_ = std::max<uint64_t>(1, target / 100);
    lir_limit_ = target > hir_limit_ ? target - hir_limit_ : 0;
    epoch_len_ = EpochLength(target / AverageWeight());
  }

  // Markers kept: all that kRing allows, or in a byte-bounded shard as many as its size
  // affords. 1,023 markers of a few hundred items cost more than the items did: a 28 KB cache
  // held next to nothing, its marker blocks (never freed) taking nearly all of its budget.
  uint32_t MaxMarkers() const {
    // Every insert and hit asks (LimitStack): no division on the common path.
    const uint64_t held = lirs_.weight + hirs_.weight;
    if (c_->count_items || held >= kBytesPerMarker * kMaxMarkers) return kMaxMarkers;
    return static_cast<uint32_t>(std::max<uint64_t>(held / kBytesPerMarker, kMinMarkers));
  }

  // Pushes per epoch: 1/128 of the items, or more where fewer markers are kept, so that the
  // markers still span 8x the items in pushes.
  uint64_t EpochLength(uint64_t items) const {
    const uint64_t len = std::max<uint64_t>(1, items / kEpochsPerCapacity);
    const uint64_t markers = MaxMarkers();
    if (markers == kMaxMarkers) return len;
    return std::max(len, (8 * items + markers - 1) / markers);
  }

  // 1 in an item-bounded cache.
  uint64_t AverageWeight() const {
    const uint64_t n = lirs_.count + hirs_.count;
    return n == 0 ? 1 : std::max<uint64_t>((lirs_.weight + hirs_.weight) / n, 1);
  }

  uint32_t FindRun(ItemRef anchor) const { return *runs_.find(ByKey{anchor}); }

  // The header of the run above LIR item `anchor` (kNullRef: the bottom run), made if missing.
  uint32_t RunOf(ItemRef anchor) {
    if (anchor == kNullRef) return kBottom;
    Item* it = c_->At(anchor);
    const uint8_t bits = it->policy_byte();
    if (bits & kHasRun) return FindRun(anchor);
    const uint32_t h = NewNode(anchor, kHeader);
    node(h).prev = node(h).next = h;
    runs_.insert(h);
    it->set_policy_byte(bits | kHasRun);
    return h;
  }

  void FreeRun(uint32_t h) {
    const ItemRef anchor = static_cast<ItemRef>(node(h).key);
    runs_.erase(h);
    Item* it = c_->At(anchor);
    it->set_policy_byte(it->policy_byte() & ~kHasRun);
    FreeNode(h);
  }

  // LIR item r leaves its place in S: the markers above it now lie above its older neighbour.
  void DetachRun(ItemRef r) {
    Item* it = c_->At(r);
    if (!(it->policy_byte() & kHasRun)) return;
    const uint32_t h = FindRun(r);
    const ItemRef older = it->next;
    if (older != kNullRef && !(c_->At(older)->policy_byte() & kHasRun)) {
      // The neighbour has no run: this one becomes its.
      runs_.erase(h);
      node(h).key = older;
      runs_.insert(h);
      c_->At(older)->set_policy_byte(c_->At(older)->policy_byte() | kHasRun);
      it->set_policy_byte(it->policy_byte() & ~kHasRun);
      return;
    }
    const uint32_t to = RunOf(older);
    // This run's markers are newer than those of `to`: they go on its top.
    Node& from = node(h);
    const uint32_t newest = from.next;
    const uint32_t oldest = from.prev;
    Node& dst = node(to);
    const uint32_t first = dst.next;
    dst.next = newest;
    node(newest).prev = to;
    node(oldest).next = first;
    node(first).prev = oldest;
    from.prev = from.next = h;
    FreeRun(h);
  }

  // Every push onto S counts toward the epoch; a new epoch starts with a marker on top of S.
  void Tick() {
    if (++pushes_ < epoch_len_) return;
    pushes_ = 0;
    table_.NextEpoch();
    for (const uint32_t cap = MaxMarkers(); markers_ >= cap;) {
      DropMarker(marker_[(table_.epoch() - markers_) % kRing]);
    }
    const uint32_t n = NewNode(table_.epoch(), kMarker);
    marker_[table_.epoch() % kRing] = n;
    ++markers_;
    const uint32_t h = RunOf(lirs_.head);
    Node& hd = node(h);
    Node& x = node(n);
    x.prev = h;
    x.next = hd.next;
    node(hd.next).prev = n;
    hd.next = n;
  }

  // Takes the oldest marker out of its run.
  void DropMarker(uint32_t n) {
    Node& x = node(n);
    const uint32_t above = x.prev;
    node(above).next = x.next;
    node(x.next).prev = above;
    --markers_;
    // A header whose run has emptied goes, so that there are never more headers than markers.
    if (above == x.next && above != kBottom && node(above).tag == kHeader) FreeRun(above);
    FreeNode(n);
  }

  void PushLir(ItemRef r, uint64_t w) {
    Tick();
    c_->At(r)->set_policy_byte(kLir);
    lirs_.PushHead(*c_, r, w);
  }
  void MoveLirToTop(ItemRef r) {
    Tick();
    DetachRun(r);
    lirs_.MoveToHead(*c_, r);
  }
  void RemoveLir(ItemRef r, uint64_t w) {
    DetachRun(r);
    lirs_.Remove(*c_, r, w);
  }

  // HIR item r gets an entry on top of S.
  void PushHirEntry(ItemRef r, uint64_t hash) {
    Tick();
    table_.Add(hash);
    Item* it = c_->At(r);
    it->set_policy_byte(it->policy_byte() | kInS);
  }

  // Q's oldest block leaves the cache. If it is in S, its entry stays there as a ghost.
  ItemRef EvictHir() {
    const ItemRef v = hirs_.tail;
    hirs_.Remove(*c_, v, c_->Weight(v));
    c_->At(v)->set_policy_byte(0);
    return v;
  }

  // The bottom LIR block becomes a Q-only HIR block (Q making room first). False if there is no
  // LIR block.
  bool DemoteBottomLir() {
    Prune();
    const ItemRef v = lirs_.tail;
    if (v == kNullRef) return false;
    const uint64_t w = c_->Weight(v);
    RemoveLir(v, w);
    c_->At(v)->set_policy_byte(0);
    while (!hirs_.empty() && hirs_.weight + w > hir_limit_) pending_.push_back(EvictHir());
    hirs_.PushHead(*c_, v, w);
    Prune();
    return true;
  }

  // Empties the bottom run, so that S ends with an LIR block: the newest marker below that block
  // is its epoch, and the table's entries that are not newer are out of S. With no LIR block
  // left, S keeps the entries of the newest epoch (upstream keeps its newest entry).
  void Prune() {
    if (bottom_.prev == kBottom) return;
    uint32_t bottom_epoch = 0;
    while (bottom_.prev != kBottom) {
      bottom_epoch = static_cast<uint32_t>(node(bottom_.prev).key);
      DropMarker(bottom_.prev);
    }
    table_.ExpireBefore(lirs_.count == 0 ? bottom_epoch : bottom_epoch + 1);
  }

  // Caps S at twice the capacity in items, dropping the entries referenced longest ago.
  void LimitStack() {
    const uint64_t items = target_ / AverageWeight();
    table_.SetWindow(items);
    epoch_len_ = EpochLength(items);
    table_.Trim(2 * items > lirs_.count ? 2 * items - lirs_.count : 0);
  }

  const PolicyContext* c_;
  ItemList lirs_;  // S's LIR blocks; head = top of S
  ItemList hirs_;  // Q; head = most recent
  StackEntryTable table_;
  Node bottom_;   // header of the run below the bottom LIR block (empty after Prune)
  NodeSet runs_;  // run headers, by anchor ItemRef
  std::vector<std::unique_ptr<Node[]>> blocks_;
  uint32_t used_nodes_ = 0;  // nodes ever handed out from blocks_
  uint32_t free_ = kNil;
  std::array<uint32_t, kRing> marker_{};  // marker nodes by epoch % kRing
  uint32_t markers_ = 0;                  // of the epochs up to the table's current one
  uint64_t pushes_ = 0;                   // in the current epoch
  uint64_t epoch_len_ = 1;
  std::vector<ItemRef> pending_;
  uint64_t capacity_ = 1;
  uint64_t target_ = 1;  // what the limits are computed from; see the top
  uint64_t hir_limit_ = 1;
  uint64_t lir_limit_ = 0;
  uint64_t announced_hash_ = 0;  // of the last BeforeInsert not yet followed by its Insert
  bool announced_ = false;
  bool returning_ = false;  // that BeforeInsert found a ghost (and took it)
};

}  // namespace kvcache::internal
