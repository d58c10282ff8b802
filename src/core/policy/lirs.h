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
// every resident item is in exactly one intrusive list. The other entries of S (ghosts, and the
// HIR items that are also in S) are nodes of a side pool, found by key hash. They have no
// position among the LIR items of their own: the entries between two neighbouring LIR items
// form a "run", a circular list hung off the older of the two (found through a table keyed by
// the anchor's ItemRef; a policy-byte bit says whether an item has one), and those below the
// bottom LIR item form the bottom run. Moving or removing an LIR item splices its run onto its
// older neighbour's; pruning is emptying the bottom run. A ghost also sits in NH, the list of
// ghosts in the order they were made. Every operation is O(1), plus amortized O(1) per entry
// pruned or trimmed.
//
// Memory: LIR and Q-only HIR items cost nothing beyond their header. Every other entry of S (a
// ghost, or an HIR item that is also in S: at most about 1% of the items) is a 24-byte side node
// plus a 4-byte slot and a control byte in a hash set, 6 to 11 bytes at absl's load factors; so
// is each run header, and there are never more headers than entries. S holds at most twice as
// many entries as the cache holds items, hence at most about one ghost per item. With S at that
// cap, replaying the reference traces measured 38 to 57 bytes per cached item (about 70 in the
// worst case, every ghost alone in its run). Nodes are reused rather than freed until Clear(). A
// byte-bounded shard charges all of it to its budget through metadata_bytes().
//
// Weights: the LIR and Q limits are in weight units, and the cap on S is in entries (twice the
// target below divided by the average resident weight). A byte-bounded shard also charges the
// index and this metadata to its capacity, so the room for items is smaller than the capacity,
// and it changes. Limits taken from the capacity would never let the LIR set fill: Q would stay
// empty and every victim would be the bottom LIR block, LRU in effect. They come from a target
// instead: the resident weight whenever the shard has to evict to make room, raised by one item
// whenever an insert reaches the target without that. Room lost later (ghost memory growing, or
// the LIR set filling everything before the first eviction showed the real room) still comes out
// of the LIR set once Q is empty. An item-bounded shard evicts exactly when it holds its
// capacity, so its target stays at the capacity and the limits are libCacheSim's.
#pragma once

#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/policy/policy.h"

namespace kvcache::internal {

class LirsPolicy {
 public:
  static constexpr const char* kName = "lirs";
  static constexpr bool kBufferedHits = true;

  explicit LirsPolicy(const PolicyContext* c)
      : c_(c), entries_(0, NodeHash{this}, NodeEq{this}), runs_(0, NodeHash{this}, NodeEq{this}) {
    ResetBottom();
  }
  // The hash sets' functors point back at this object.
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
    const uint32_t n = FindEntry(hash);
    announced_ = true;
    announced_hash_ = hash;
    returning_ = n != kNil && node(n).tag != kResident;
    if (returning_) {
      DropEntry(n);
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
      const uint32_t n = FindEntry(hash);
      returning = n != kNil && node(n).tag != kResident;
      if (returning) DropEntry(n);
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
    } else {
      const uint32_t n = (bits & kInS) ? FindResidentEntry(r, c_->HashOf(r)) : kNil;
      if (n != kNil) {
        // Its reuse distance is below the bottom LIR block's: it takes that block's place.
        const uint64_t w = c_->Weight(r);
        DropEntry(n);
        hirs_.Remove(*c_, r, w);
        PushLir(r, w);
        while (lirs_.weight > lir_limit_ && lirs_.tail != r && DemoteBottomLir()) {
        }
      } else {
        hirs_.MoveToHead(*c_, r);
        PushHirEntry(r, c_->HashOf(r));
      }
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
      if (bits & kInS) {
        const uint32_t n = FindResidentEntry(r, c_->HashOf(r));
        if (n != kNil) DropEntry(n);
      }
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
      hirs_.ReplaceNode(*c_, from, to, wf, wt);
      if (bits & kInS) {
        const uint32_t n = FindResidentEntry(from, c_->HashOf(to));  // same key, same hash
        if (n != kNil) {
          node(n).link = to;
        } else {
          c_->At(to)->set_policy_byte(0);
        }
      }
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
    return blocks_.size() * kBlockNodes * sizeof(Node) + blocks_.capacity() * sizeof(void*) +
           (entries_.capacity() + runs_.capacity()) * (sizeof(uint32_t) + 1) +
           pending_.capacity() * sizeof(ItemRef);
  }

  void Clear() {
    lirs_.Clear();
    hirs_.Clear();
    entries_ = NodeSet(0, NodeHash{this}, NodeEq{this});
    runs_ = NodeSet(0, NodeHash{this}, NodeEq{this});
    blocks_.clear();
    blocks_.shrink_to_fit();
    used_nodes_ = 0;
    free_ = kNil;
    nh_newest_ = nh_oldest_ = kNil;
    s_entries_ = 0;
    ghosts_ = 0;
    pending_.clear();
    announced_ = returning_ = false;
    SetTarget(capacity_);
    ResetBottom();
  }

  // For tests.
  const ItemList& lirs() const { return lirs_; }
  const ItemList& hirs() const { return hirs_; }
  uint64_t stack_size() const { return lirs_.count + s_entries_; }
  uint64_t ghosts() const { return ghosts_; }
  size_t runs() const { return runs_.size(); }
  bool IsGhost(uint64_t hash) const {
    const uint32_t n = FindEntry(hash);
    return n != kNil && node(n).tag != kResident;
  }
  uint64_t lir_limit() const { return lir_limit_; }
  uint64_t hir_limit() const { return hir_limit_; }

 private:
  // Policy byte bits. An item with none is a Q-only HIR block.
  static constexpr uint8_t kLir = 1;     // LIR: in S through its links
  static constexpr uint8_t kInS = 2;     // HIR with an entry in S
  static constexpr uint8_t kHasRun = 4;  // LIR with a non-empty run above it

  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr uint32_t kResident = UINT32_MAX - 1;  // Node::tag of an HIR item's entry
  static constexpr uint32_t kHeader = UINT32_MAX - 2;    // Node::tag of a run header
  static constexpr uint32_t kBottom = UINT32_MAX - 3;    // the bottom run's header, a member
  static constexpr uint32_t kBlockShift = 8;
  static constexpr uint32_t kBlockNodes = 1u << kBlockShift;

  // An entry of S that is not an LIR item, or the header of a run. A run is circular through its
  // header: header.next is its newest (topmost) entry, header.prev its oldest.
  struct Node {
    uint64_t key;   // the block's key hash; for a header, the anchor's ItemRef
    uint32_t prev;  // toward the top of S (newer)
    uint32_t next;  // toward the bottom of S (older)
    uint32_t link;  // ghost: the next older ghost in NH; resident: its ItemRef; free: next free
    uint32_t tag;   // ghost: the next newer ghost in NH (or kNil); else kResident or kHeader
  };

  // Hash sets of node indices, looked up by the nodes' keys, so that a lookup table slot costs 4
  // bytes instead of a map's 12 to 16.
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

  // Fixed-size blocks rather than one vector: node references stay valid, and the memory
  // charged to a byte-bounded shard grows smoothly instead of doubling.
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
  }

  // 1 in an item-bounded cache.
  uint64_t AverageWeight() const {
    const uint64_t n = lirs_.count + hirs_.count;
    return n == 0 ? 1 : std::max<uint64_t>((lirs_.weight + hirs_.weight) / n, 1);
  }

  uint32_t FindEntry(uint64_t hash) const {
    auto it = entries_.find(ByKey{hash});
    return it == entries_.end() ? kNil : *it;
  }
  // The S entry of resident HIR item r, or kNil.
  uint32_t FindResidentEntry(ItemRef r, uint64_t hash) const {
    const uint32_t n = FindEntry(hash);
    return n != kNil && node(n).tag == kResident && node(n).link == r ? n : kNil;
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

  // LIR item r leaves its place in S: the entries above it now lie above its older neighbour.
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
    // This run's entries are newer than those of `to`: they go on its top.
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

  void PushLir(ItemRef r, uint64_t w) {
    c_->At(r)->set_policy_byte(kLir);
    lirs_.PushHead(*c_, r, w);
  }
  void MoveLirToTop(ItemRef r) {
    DetachRun(r);
    lirs_.MoveToHead(*c_, r);
  }
  void RemoveLir(ItemRef r, uint64_t w) {
    DetachRun(r);
    lirs_.Remove(*c_, r, w);
  }

  // Puts an entry on top of S: the newest of the run above the topmost LIR item.
  void PushOnTop(uint32_t n) {
    const uint32_t h = RunOf(lirs_.head);
    Node& hd = node(h);
    Node& x = node(n);
    x.prev = h;
    x.next = hd.next;
    node(hd.next).prev = n;
    hd.next = n;
    ++s_entries_;
  }

  // HIR item r gets an entry on top of S.
  void PushHirEntry(ItemRef r, uint64_t hash) {
    // Only a 64-bit hash collision between two keys finds one already; the set holds one per key.
    const uint32_t old = FindEntry(hash);
    if (old != kNil) DropEntry(old);
    const uint32_t n = NewNode(hash, kResident);
    node(n).link = r;
    entries_.insert(n);
    PushOnTop(n);
    Item* it = c_->At(r);
    it->set_policy_byte(it->policy_byte() | kInS);
  }

  // Takes an entry out of S, and out of NH if it is a ghost.
  void DropEntry(uint32_t n) {
    Node& x = node(n);
    if (x.tag == kResident) {
      Item* it = c_->At(x.link);
      it->set_policy_byte(it->policy_byte() & ~kInS);
    } else {
      NhUnlink(n);
      --ghosts_;
    }
    entries_.erase(n);
    const uint32_t above = x.prev;
    node(above).next = x.next;
    node(x.next).prev = above;
    --s_entries_;
    // A header whose run has emptied goes, so that there are never more headers than entries.
    if (above == x.next && above != kBottom && node(above).tag == kHeader) FreeRun(above);
    FreeNode(n);
  }

  void NhUnlink(uint32_t n) {
    Node& x = node(n);
    (x.tag != kNil ? node(x.tag).link : nh_newest_) = x.link;
    (x.link != kNil ? node(x.link).tag : nh_oldest_) = x.tag;
  }

  // Q's oldest block leaves the cache. If it is in S, its entry stays there as a ghost.
  ItemRef EvictHir() {
    const ItemRef v = hirs_.tail;
    Item* it = c_->At(v);
    hirs_.Remove(*c_, v, c_->Weight(v));
    if (it->policy_byte() & kInS) {
      const uint32_t n = FindResidentEntry(v, c_->HashOf(v));
      if (n != kNil) {
        Node& x = node(n);
        x.tag = kNil;
        x.link = nh_newest_;
        (nh_newest_ != kNil ? node(nh_newest_).tag : nh_oldest_) = n;
        nh_newest_ = n;
        ++ghosts_;
      }
    }
    it->set_policy_byte(0);
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

  // Empties the bottom run, so that S ends with an LIR block; as upstream, S keeps its last
  // entry even when it is not LIR.
  void Prune() {
    while (bottom_.prev != kBottom && lirs_.count + s_entries_ > 1) DropEntry(bottom_.prev);
  }

  // Caps S at twice the capacity in items, dropping the ghosts made longest ago.
  void LimitStack() {
    const uint64_t limit = 2 * (target_ / AverageWeight());
    while (lirs_.count + s_entries_ > limit && nh_oldest_ != kNil) DropEntry(nh_oldest_);
  }

  const PolicyContext* c_;
  ItemList lirs_;    // S's LIR blocks; head = top of S
  ItemList hirs_;    // Q; head = most recent
  Node bottom_;      // header of the run below the bottom LIR block (empty after Prune)
  NodeSet entries_;  // ghosts and HIR items' entries, by key hash
  NodeSet runs_;     // run headers, by anchor ItemRef
  std::vector<std::unique_ptr<Node[]>> blocks_;
  uint32_t used_nodes_ = 0;  // nodes ever handed out from blocks_
  uint32_t free_ = kNil;
  uint32_t nh_newest_ = kNil;
  uint32_t nh_oldest_ = kNil;
  uint64_t s_entries_ = 0;  // entries of S that are not LIR items
  uint64_t ghosts_ = 0;
  std::vector<ItemRef> pending_;
  uint64_t capacity_ = 1;
  uint64_t target_ = 1;  // what the limits are computed from; see the top
  uint64_t hir_limit_ = 1;
  uint64_t lir_limit_ = 0;
  uint64_t announced_hash_ = 0;  // of the last BeforeInsert not yet followed by its Insert
  bool announced_ = false;
  bool returning_ = false;  // that BeforeInsert found a ghost (and dropped it)
};

}  // namespace kvcache::internal
