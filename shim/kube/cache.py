"""Watch-backed caches (informers): one LIST, then a WATCH that keeps a local copy current.

Objects are kept as the plain JSON dicts the API server sends (less their managedFields, which
no reader needs and which take much of a pod's memory); building the client's model classes for
thousands of objects would cost more than everything else a read does.
A process sees its own writes at once: every write's answer is `observe`d into the cache.
"""

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

import orjson
import urllib3

from shim import metrics

log = logging.getLogger(__name__)

KubeObject = dict[str, Any]
ListCall = Callable[..., Any]
IndexKey = Callable[[KubeObject], str | None]
T = TypeVar("T")

WATCH_SECONDS = 240
LIST_TIMEOUT = (3.0, 60.0)
"""Connect and read timeouts of a LIST: a whole resource may take a while to send."""
WATCH_TIMEOUT = (3.0, WATCH_SECONDS + 30.0)
"""A watch is quiet for as long as nothing changes; the API server ends it after WATCH_SECONDS."""
RETRY_SECONDS = (1.0, 60.0)
"""The first and the longest wait before listing again after a failure, doubling in between."""


def object_key(obj: KubeObject) -> str:
    metadata = obj["metadata"]
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])


def resource_version(obj: KubeObject) -> int:
    return int(obj["metadata"].get("resourceVersion") or 0)


class Informer:
    """A local, eventually consistent copy of every object `list_call` returns."""

    def __init__(self, name: str, list_call: ListCall, **list_kwargs: Any) -> None:
        self.name = name
        self._list_call = list_call
        self._list_kwargs = list_kwargs
        self._objects: dict[str, KubeObject] = {}
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._listeners: list[Callable[[str, KubeObject], None]] = []
        self._index_keys: dict[str, IndexKey] = {}
        self.version = 0
        self._indexes: dict[str, dict[str, dict[str, KubeObject]]] = {}
        self._index_values: dict[str, tuple[str | None, ...]] = {}
        self._failure: str | None = None
        """Why the last LIST or WATCH failed, until a LIST succeeds again."""

    def add_index(self, name: str, key: IndexKey) -> "Informer":
        """Keep the objects grouped by `key(obj)` (None: left out), for `indexed(name, value)`."""
        self._index_keys[name] = key
        self._indexes[name] = {}
        return self

    def indexed(self, name: str, value: str) -> list[KubeObject]:
        self.wait_synced()
        with self._lock:
            return list(self._indexes[name].get(value, {}).values())

    def start(self) -> "Informer":
        threading.Thread(target=self._run, name=f"informer-{self.name}", daemon=True).start()
        return self

    def wait_synced(self, timeout: float = 30.0) -> None:
        if not self._synced.wait(timeout):
            raise TimeoutError(f"cache of {self.name} did not sync within {timeout} s")

    def get(self, key: str) -> KubeObject | None:
        self.wait_synced()
        with self._lock:
            return self._objects.get(key)

    def items(self) -> list[KubeObject]:
        self.wait_synced()
        with self._lock:
            return list(self._objects.values())

    def observe(self, obj: KubeObject, deleted: bool = False) -> None:
        """Record an object this process wrote or saw, unless the cache already has a newer one."""
        obj["metadata"].pop("managedFields", None)
        key = object_key(obj)
        with self._lock:
            current = self._objects.get(key)
            if current is not None and resource_version(current) > resource_version(obj):
                return
            self.version += 1
            if deleted:
                self._objects.pop(key, None)
                self._index(key, None)
            else:
                self._objects[key] = obj
                self._index(key, obj)
        for listener in self._listeners:
            listener("DELETED" if deleted else "MODIFIED", obj)

    def add_listener(self, listener: Callable[[str, KubeObject], None]) -> None:
        """`listener(event, obj)` for every object recorded (MODIFIED, DELETED), and once after
        each LIST that replaced the whole cache (RELISTED, with no object)."""
        self._listeners.append(listener)

    def _index(self, key: str, obj: KubeObject | None) -> None:
        """File `obj` under `key` in every index (None: take `key` out). Each key's index values
        are kept, so that an object moves only between groups whose value changed: most watch
        events change none."""
        before = self._index_values.pop(key, None) or (None,) * len(self._indexes)
        after = tuple(key_of(obj) for key_of in self._index_keys.values()) if obj is not None else (None,) * len(before)
        for groups, old, new in zip(self._indexes.values(), before, after, strict=True):
            if old is not None and old != new:
                group = groups[old]
                del group[key]
                if not group:
                    del groups[old]
            if obj is not None and new is not None:
                groups.setdefault(new, {})[key] = obj
        if obj is not None:
            self._index_values[key] = after

    def problem(self) -> str | None:
        """Why this cache may not be current (None: it is synced and its last LIST succeeded)."""
        if not self._synced.is_set():
            return f"cache of {self.name} is not synced"
        failure = self._failure
        return f"cache of {self.name} lost its watch: {failure}" if failure else None

    def _run(self) -> None:
        """LIST then WATCH, forever. While the API server fails, retry with a doubling wait and
        log only the changes of state (lost, back), not every attempt."""
        wait = RETRY_SECONDS[0]
        while True:
            try:
                version = self._relist()
                wait = RETRY_SECONDS[0]
                for event_type, obj in self._watch(version):
                    if event_type == "BOOKMARK":
                        continue
                    self.observe(obj, deleted=event_type == "DELETED")
            except Exception as error:
                self._lost(error)
                time.sleep(wait)
                wait = min(wait * 2, RETRY_SECONDS[1])

    def _lost(self, error: Exception) -> None:
        failure = f"{type(error).__name__}: {error}"
        if self._failure is None:
            log.warning("cache of %s lost its watch (%s); listing again until it answers", self.name, failure)
        else:
            log.debug("cache of %s: %s", self.name, failure)
        self._failure = failure

    def _relist(self) -> str:
        metrics.watch_listed(self.name)
        response = self._list_call(_preload_content=False, _request_timeout=LIST_TIMEOUT, **self._list_kwargs)
        body = orjson.loads(response.data)
        self.replace(body.get("items", []))
        if self._failure is not None:
            log.warning("cache of %s is current again", self.name)
            self._failure = None
        return str(body["metadata"]["resourceVersion"])

    def replace(self, objects: list[KubeObject]) -> None:
        """Make `objects` (a fresh LIST) the whole cache."""
        for obj in objects:
            obj["metadata"].pop("managedFields", None)
        with self._lock:
            self.version += 1
            self._objects = {object_key(obj): obj for obj in objects}
            self._indexes = {name: {} for name in self._indexes}
            self._index_values = {}
            for key, obj in self._objects.items():
                self._index(key, obj)
        self._synced.set()
        for listener in self._listeners:
            listener("RELISTED", {})

    def _watch(self, version: str) -> Iterator[tuple[str, KubeObject]]:
        while True:
            response: urllib3.HTTPResponse = self._list_call(
                watch=True,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_SECONDS,
                _request_timeout=WATCH_TIMEOUT,
                _preload_content=False,
                **self._list_kwargs,
            )
            try:
                for line in _lines(response):
                    event = orjson.loads(line)
                    if event["type"] == "ERROR":
                        return
                    obj = event["object"]
                    version = obj["metadata"].get("resourceVersion", version)
                    yield event["type"], obj
            finally:
                response.release_conn()


def _lines(response: urllib3.HTTPResponse) -> Iterator[bytes]:
    pending = b""
    for chunk in response.stream(amt=65536, decode_content=True):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line for line in complete if line.strip())
    if pending.strip():
        yield pending


class DerivedCache(Generic[T]):
    """Values derived from cached objects, kept while the objects keep their resourceVersions:
    the key names the objects' versions, so a changed object simply misses. Bounded by
    forgetting everything when full, which costs one recomputation per object."""

    def __init__(self, limit: int = 50_000) -> None:
        self._values: dict[Hashable, T] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                return self._values[key]
        value = compute()
        with self._lock:
            if len(self._values) >= self._limit:
                self._values.clear()
            self._values[key] = value
        return value


def version_key(obj: KubeObject | None) -> tuple[str, str] | None:
    """What identifies one version of an object, for DerivedCache keys."""
    if obj is None:
        return None
    metadata = obj["metadata"]
    return str(metadata.get("uid") or object_key(obj)), str(metadata.get("resourceVersion", ""))
