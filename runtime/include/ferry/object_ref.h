// ferry/object_ref.h — ObjectRef<T>, put, get, wait: the object API.
//
//   ferry::ObjectRef<std::vector<double>> r = ferry::put(samples);   // this rank owns it
//   std::vector<double> v = r.get();                                 // any rank holding r
//   auto [ready, not_ready] = ferry::wait(refs, 2, std::chrono::seconds(1));
//
// ObjectRef<T> is a copyable handle to an immutable object. Its id embeds the
// owner's rank (the rank that called put). Copying a ref adds a local
// reference, destroying one drops it; when the owner's last local reference
// drops, the object is freed (with every cached copy on other ranks). A ref
// can travel to another rank inside a message or another object (cereal
// save/load, or encode()/decode() of its 16-byte id). A ref anywhere keeps
// the object alive: a rank that decodes a ref becomes a borrower (registered
// with the owner before decode returns; a task's ref argument only if the task
// keeps it beyond its end, before its result is reported), refs inside a put
// value or a task result are kept by that object, refs passed to a task by the
// submitter until the task ends. The object is freed when no rank holds a ref (see
// docs/ARCHITECTURE.md "Borrowers"). A ref sent by hand (encode() in your
// own message) must be kept by the sender until the receiver decoded it.
//
// Errors surface at get()/put() as ferry::Error: not_found (freed or unknown
// id), owner_died (the owner rank failed), store_full (arena exhausted),
// malformed_message (corrupted object header), type_mismatch (read as another
// type), timeout (FERRY_GET_TIMEOUT_MS, or the timeout passed in), shut_down
// (no runtime). try_get()/try_put() return them as Result instead.
//
// Every operation uses the process-wide current runtime (ferry::Runtime, see
// runtime.h). A ref that outlives its runtime is inert: copying/destroying it
// does nothing and get() fails with shut_down.
//
// Thread-safety: an ObjectRef may be used from any thread (like a shared_ptr:
// distinct refs concurrently, one ref not written while read). put/get/wait
// may be called concurrently from any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ferry/detail/object_api.h"
#include "ferry/serialization.h"
#include "ferry/status.h"
#include "ferry/task_error.h"

namespace ferry {

template <class T>
class ObjectRef;
template <class T>
class future;

namespace detail {

// Starts a fetch of every (epoch, id) and waits until `num_ready` completed
// (with a value or an error) or the timeout passed; true = completed.
std::vector<bool> wait_ids(const std::vector<std::pair<std::uint32_t, ObjectId>>& ids, std::size_t num_ready,
                           std::chrono::milliseconds timeout);

// Waits for `f` (default or explicit timeout) and returns its data.
Result<ObjectData> await_data(Future<ObjectData>& f, const ObjectId& id,
                              std::optional<std::chrono::milliseconds> timeout);

}  // namespace detail

// A zero-copy, read-only view of an object's bytes, pinned in the local
// object store while the view lives (raw_value and raw_range types only).
// Must not outlive the runtime.
template <class T>
class ObjectView {
 public:
  ObjectView() = default;
  // raw_range types: the elements.
  auto data() const {
    if constexpr (std::is_same_v<T, std::string>) {
      return std::string_view(reinterpret_cast<const char*>(data_.bytes.data()), data_.bytes.size());
    } else if constexpr (is_raw_range_v<T>) {
      using U = typename detail::vector_element<T>::type;
      return std::span<const U>(reinterpret_cast<const U*>(data_.bytes.data()), data_.bytes.size() / sizeof(U));
    } else {
      return reinterpret_cast<const T*>(data_.bytes.data());
    }
  }
  std::size_t size_bytes() const noexcept { return data_.bytes.size(); }
  // raw_value types: the value.
  const T& value() const {
    static_assert(is_raw_value_v<T>, "ObjectView::value() is for trivially copyable values; use data() for ranges");
    return *reinterpret_cast<const T*>(data_.bytes.data());
  }
  std::span<const std::byte> bytes() const noexcept { return data_.bytes; }

 private:
  template <class U>
  friend class ObjectRef;
  explicit ObjectView(detail::ObjectData d) : data_(std::move(d)) {}
  detail::ObjectData data_;
};

template <class T>
class ObjectRef {
  static_assert(std::is_same_v<T, stored_t<T>>,
                "ferry::ObjectRef<T>: T must be the stored type (std::vector<U> for spans, std::string for "
                "string views); see ferry/serialization.h");

 public:
  using value_type = T;

  ObjectRef() noexcept = default;  // nil
  ObjectRef(const ObjectRef& o) : id_(o.id_), epoch_(o.epoch_) {
    if (!id_.is_nil()) detail::add_ref(epoch_, id_);
  }
  ObjectRef(ObjectRef&& o) noexcept : id_(std::exchange(o.id_, ObjectId())), epoch_(o.epoch_) {}
  ObjectRef& operator=(ObjectRef o) noexcept {
    swap(o);
    return *this;
  }
  ~ObjectRef() { reset(); }

  void swap(ObjectRef& o) noexcept {
    std::swap(id_, o.id_);
    std::swap(epoch_, o.epoch_);
  }
  // Drops this reference (the ref becomes nil).
  void reset() noexcept {
    if (!id_.is_nil()) detail::remove_ref(epoch_, std::exchange(id_, ObjectId()));
  }

  const ObjectId& id() const noexcept { return id_; }
  std::uint32_t owner() const noexcept { return id_.owner(); }
  bool is_nil() const noexcept { return id_.is_nil(); }
  explicit operator bool() const noexcept { return !is_nil(); }

  // Blocks until the value is here; throws ferry::Error. Without a timeout,
  // FERRY_GET_TIMEOUT_MS applies (0 = wait forever).
  // A task output whose function threw -> ferry::task_error.
  T get() const { return value_or_throw(try_get()); }
  // The value as a ferry::future (starts fetching; returns at once). Defined in ferry/async.h.
  future<T> get_async() const;
  T get(std::chrono::milliseconds timeout) const { return value_or_throw(try_get(timeout)); }
  // Same, errors as a Result.
  Result<T> try_get(std::optional<std::chrono::milliseconds> timeout = std::nullopt) const {
    auto d = data(timeout);
    if (!d) return d.status();
    return detail::decode<T>(d.value(), id_);
  }
  // Zero-copy view (raw_value / raw_range types): the bytes in the local
  // object store (a remote object is fetched and cached here first).
  ObjectView<T> view(std::optional<std::chrono::milliseconds> timeout = std::nullopt) const {
    static_assert(is_raw_value_v<T> || is_raw_range_v<T>,
                  "ObjectRef::view() needs a trivially copyable T or a std::vector/std::string of them; "
                  "use get() for cereal-serialized types");
    auto d = data(timeout);
    if (!d) detail::throw_status(d.status());
    if (Status s = detail::check_data<T>(d.value(), id_); !s) throw Error(s);
    return ObjectView<T>(std::move(d).value());
  }

  // Starts fetching the object into the local store without waiting (get()
  // later finds it here).
  void prefetch() const { (void)fetch_async(); }
  // Building block of get()/wait(): the object's bytes, once here. Never throws.
  Future<detail::ObjectData> fetch_async() const { return detail::fetch(epoch_, id_); }
  // The runtime this ref belongs to (internal; see detail/object_api.h).
  std::uint32_t epoch() const noexcept { return epoch_; }

  // The same object read as U; get() checks the stored type (type_mismatch).
  template <class U>
  ObjectRef<U> as() const {
    return ObjectRef<U>::from_id(id_);
  }
  // A new local reference to `id` (e.g. received in a message).
  static ObjectRef from_id(const ObjectId& id) {
    std::uint32_t epoch = detail::current_epoch();
    if (!id.is_nil()) detail::add_ref_decoded(epoch, id);
    return ObjectRef(adopt, id, epoch);
  }
  // Wire form: the 16-byte id (ObjectId::encode). decode() adds a local reference.
  void encode(std::span<std::byte, ObjectId::kWireBytes> out) const noexcept { id_.encode(out); }
  static ObjectRef decode(std::span<const std::byte, ObjectId::kWireBytes> in) {
    return from_id(ObjectId::decode(in));
  }

  // The value of an ObjectRef (put, task arguments and results) in the bytes save() writes:
  // owner (4), index (4), counter (8), native order (serialization.h fixed_cereal).
  static constexpr std::size_t kFerryFixedBytes = 16;
  void ferry_save_fixed(std::byte* out, std::vector<ObjectId>& contained) const {
    if (!id_.is_nil()) contained.push_back(id_);
    const std::uint32_t owner = id_.owner(), index = id_.index();
    const std::uint64_t counter = id_.counter();
    std::memcpy(out, &owner, 4);
    std::memcpy(out + 4, &index, 4);
    std::memcpy(out + 8, &counter, 8);
  }
  static ObjectRef ferry_load_fixed(const std::byte* in) {
    std::uint32_t owner = 0, index = 0;
    std::uint64_t counter = 0;
    std::memcpy(&owner, in, 4);
    std::memcpy(&index, in + 4, 4);
    std::memcpy(&counter, in + 8, 8);
    return from_id(ObjectId(owner, counter, index));
  }

  // cereal: refs inside other objects and messages.
  template <class Archive>
  void save(Archive& ar) const {
    if (detail::tl_ref_capture && !id_.is_nil()) detail::tl_ref_capture->push_back(id_);
    ar(id_.owner(), id_.index(), id_.counter());
  }
  template <class Archive>
  void load(Archive& ar) {
    std::uint32_t owner = 0, index = 0;
    std::uint64_t counter = 0;
    ar(owner, index, counter);
    *this = from_id(ObjectId(owner, counter, index));
  }

  friend bool operator==(const ObjectRef& a, const ObjectRef& b) noexcept { return a.id_ == b.id_; }

  // Internal: adopts the reference put() created.
  struct Adopt {};
  static constexpr Adopt adopt{};
  ObjectRef(Adopt, const ObjectId& id, std::uint32_t epoch) noexcept : id_(id), epoch_(epoch) {}

 private:
  static T value_or_throw(Result<T>&& r) {
    if (!r) detail::throw_status(r.status());
    return std::move(r).value();
  }
  Result<detail::ObjectData> data(std::optional<std::chrono::milliseconds> timeout) const {
    if (id_.is_nil()) return Status(Errc::invalid_argument, "get of a nil ObjectRef (default-constructed or moved from)");
    return detail::read(epoch_, id_, timeout);
  }

  ObjectId id_;
  std::uint32_t epoch_ = 0;
};

// Stores `value` in this rank's object store; this rank owns the object.
// Errors (store_full, shut_down) as a Result.
template <class V>
Result<ObjectRef<stored_t<V>>> try_put(const V& value) {
  using S = stored_t<V>;
  detail::Encoded e = detail::encode<S>(value);
  auto r = detail::put_bytes(e.meta, e.bytes, e.contained);
  if (!r) return r.status();
  return ObjectRef<S>(ObjectRef<S>::adopt, r.value().id, r.value().epoch);
}

// Same; throws ferry::Error.
template <class V>
ObjectRef<stored_t<V>> put(const V& value) {
  return try_put(value).value();
}

// Creates a std::vector<T> of `count` elements directly in this rank's object store (T as a raw
// range: trivially copyable, not bool or a pointer): fill(std::span<T>) writes the elements in
// place, then the object is sealed and this rank owns it. Saves put()'s copy, and the memory of
// an intermediate vector, for a large value made element by element. fill runs on the calling
// thread before anything can read the object, and must not wait on other objects (get, wait);
// if it throws, nothing is stored and the exception propagates. Errors (store_full, shut_down)
// as a Result.
template <class T, class F>
Result<ObjectRef<std::vector<T>>> try_put_in_place(std::size_t count, F&& fill) {
  using S = std::vector<T>;
  static_assert(is_raw_range_v<S>, "ferry::put_in_place: T must be trivially copyable (and not bool or a pointer)");
  static_assert(alignof(T) <= 64, "ferry::put_in_place: object payloads are 64-byte aligned");
  (void)detail::TypeRegistration<S>::done;
  detail::ObjectMeta meta;
  meta.size = count * sizeof(T);
  meta.type_tag = type_tag<S>();
  meta.format = static_cast<std::uint16_t>(format_of<S>());
  meta.aux = count;
  auto r = detail::put_in_place(meta, [&](std::span<std::byte> bytes) {
    fill(std::span<T>(reinterpret_cast<T*>(bytes.data()), count));
  });
  if (!r) return r.status();
  return ObjectRef<S>(ObjectRef<S>::adopt, r.value().id, r.value().epoch);
}

// Same; throws ferry::Error.
template <class T, class F>
ObjectRef<std::vector<T>> put_in_place(std::size_t count, F&& fill) {
  return try_put_in_place<T>(count, std::forward<F>(fill)).value();
}

// Gets every ref; throws the first error. One deadline for all of them.
// Remote objects not cached here are fetched concurrently; task outputs this
// rank owns that are still running are awaited in order, and those that
// completed meanwhile are then read directly (no future, no message).
template <class T>
std::vector<T> get(const std::vector<ObjectRef<T>>& refs,
                   std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
  std::vector<Future<detail::ObjectData>> futures(refs.size());  // invalid: not started
  for (std::size_t i = 0; i < refs.size(); ++i) {
    const auto& r = refs[i];
    if (r.is_nil()) throw Error(Status(Errc::invalid_argument, "ferry::get: a nil ObjectRef in the list"));
    if (r.owner() != detail::this_rank(r.epoch())) futures[i] = r.fetch_async();  // cached here: a ready future
  }
  auto t0 = std::chrono::steady_clock::now();
  std::vector<T> out;
  out.reserve(refs.size());
  for (std::size_t i = 0; i < refs.size(); ++i) {
    std::optional<std::chrono::milliseconds> left = timeout;
    if (timeout) {
      auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
      left = spent >= *timeout ? std::chrono::milliseconds(0) : *timeout - spent;
    }
    auto d = futures[i].valid() ? detail::await_data(futures[i], refs[i].id(), left)
                                : detail::read(refs[i].epoch(), refs[i].id(), left);
    if (!d) detail::throw_status(d.status());
    out.push_back(detail::decode<T>(d.value(), refs[i].id()).value());
  }
  return out;
}

template <class T>
struct WaitResult {
  std::vector<ObjectRef<T>> ready;      // available (fetched here) or failed: get() will not block
  std::vector<ObjectRef<T>> not_ready;  // the others, in the order given
};

// Waits until `num_ready` of `refs` are ready (fetched into this rank, or
// failed) or the timeout passes; starts fetching all of them. As Ray's wait:
// `ready` holds at most num_ready refs (exactly num_ready unless the timeout
// passed), the first ready ones in the order given; every other ref, ready
// or not, is in `not_ready`. num_ready > refs.size() -> invalid_argument.
template <class T>
WaitResult<T> wait(const std::vector<ObjectRef<T>>& refs, std::size_t num_ready, std::chrono::milliseconds timeout) {
  if (num_ready > refs.size())
    throw Error(Status(Errc::invalid_argument, "ferry::wait: asked for " + std::to_string(num_ready) +
                                                   " ready objects out of " + std::to_string(refs.size())));
  std::vector<std::pair<std::uint32_t, ObjectId>> ids;
  ids.reserve(refs.size());
  for (const auto& r : refs) {
    if (r.is_nil()) throw Error(Status(Errc::invalid_argument, "ferry::wait: a nil ObjectRef in the list"));
    ids.emplace_back(r.epoch(), r.id());
  }
  auto ready = detail::wait_ids(ids, num_ready, timeout);
  WaitResult<T> out;
  for (std::size_t i = 0; i < refs.size(); ++i)
    (ready[i] && out.ready.size() < num_ready ? out.ready : out.not_ready).push_back(refs[i]);
  return out;
}

}  // namespace ferry
