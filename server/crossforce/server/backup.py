"""Back up a matcher's data folder (and, if asked, its PKI folder) while it runs; restore into a new folder.

``crossforce backup`` and ``crossforce restore`` call ``back_up_data_dir`` and ``restore_data_dir``.
Invariants:

- A backup is one instant: the database through SQLite's online backup API (``store.snapshot``), then
  the index files its rows name, then every other file of the folder (the log signing key and anything
  a later version adds); the lock, WAL, health probes and temporary files are left out. An index file
  removed between the snapshot and its copy means a publish landed meanwhile: the snapshot is taken
  again, at most ``SNAPSHOT_ATTEMPTS`` times.
- A backup or a restore appears whole or not at all: it is built in a 0700 folder beside the target and
  renamed into place last; a target that exists and is not empty is refused before anything is written.
- Every file of a backup is 0600 in a 0700 folder, and ``MANIFEST.json`` names each with its size and
  SHA-256, plus the tree size, root and log public key of the log it holds.
- A restore copies each file hashing as it goes (the bytes that land are the bytes that were checked),
  refuses any file the manifest does not name, and then requires of the copy: SQLite's integrity check,
  every index file its rows name (each hashing to its own name), a log that verifies under the log key
  (the operator's published key when given, which must be the backup's) to the root the manifest records.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import nacl.signing

from crossforce.clock import utc_now
from crossforce.errors import (
    AlreadyExistsError,
    NotFoundError,
    PreconditionError,
    UnavailableError,
    ValidationError,
    VerificationError,
)
from crossforce.fsutil import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, atomic_write, fsync_dir, read_limited
from crossforce.server.app import LOG_KEY_FILE
from crossforce.server.backupmanifest import DATA_PART, MANIFEST_FILE, PKI_PART, FileEntry, Manifest
from crossforce.server.offline import verify_data_dir
from crossforce.server.store.snapshot import (
    DatabaseFacts,
    database_facts,
    is_database,
    is_index_file,
    is_transient,
    snapshot_database,
)
from crossforce.server.store.sqlite import DB_FILE

SNAPSHOT_ATTEMPTS = 5
"""Snapshots tried before giving up on a folder whose indexes keep being replaced mid-copy."""
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
"""Bound on the manifest read at restore: about 100 bytes a file, so far more files than any folder has."""
CHUNK = 1024 * 1024
RESTORED_MODE_MASK = 0o644
"""A restore keeps a PKI certificate world-readable and a key private, and never makes anything
executable or writable by others, whatever the manifest says."""


def back_up_data_dir(data_dir: Path, dest: Path, *, pki_dir: Path | None = None) -> Manifest:
    """Write a consistent backup of ``data_dir`` (and ``pki_dir``) into the new folder ``dest``."""
    _require_new(dest, "backup folder")
    if _inside(dest, data_dir) or (pki_dir is not None and _inside(dest, pki_dir)):
        raise ValidationError(f"backup folder {dest} is inside the folder it backs up; put it elsewhere")
    if pki_dir is not None and not pki_dir.is_dir():
        raise NotFoundError(f"PKI folder {pki_dir} does not exist")
    with _staging(dest, "partial") as staging:
        facts, entries = _snapshot_with_retries(data_dir, staging)
        if pki_dir is not None:
            entries += _copy_tree(pki_dir, staging / PKI_PART, PKI_PART, skip=lambda _rel: False)
        log_key = _log_public_key(staging / DATA_PART, facts)
        _check_log(staging / DATA_PART, facts, log_key)
        manifest = Manifest(
            created_at=utc_now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            schema_version=facts.schema_version,
            tree_size=facts.tree_size,
            root=facts.root,
            log_key=log_key,
            files=tuple(entries),
        )
        atomic_write(staging / MANIFEST_FILE, manifest.to_json(), mode=PRIVATE_FILE_MODE)
        _move_into_place(staging, dest)
    return manifest


def read_manifest(backup: Path) -> Manifest:
    path = backup / MANIFEST_FILE
    if not path.is_file():
        raise NotFoundError(f"{backup} is not a crossforce backup: it has no {MANIFEST_FILE}")
    return Manifest.from_json(read_limited(path, MAX_MANIFEST_BYTES))


def restore_data_dir(
    backup: Path, data_dir: Path, *, pki_dir: Path | None = None, log_key: bytes | None = None
) -> Manifest:
    """Restore ``backup`` into the new (or empty) folder ``data_dir``, and its PKI part into ``pki_dir``.

    ``log_key`` is the operator's published log public key: the backup's signing key must be its
    private half. Raises ``VerificationError`` for a damaged or altered backup, leaving nothing behind.
    """
    manifest = read_manifest(backup)
    _require_new(data_dir, "data folder")
    if pki_dir is not None:
        if not manifest.part(PKI_PART):
            raise ValidationError(f"{backup} holds no PKI folder (it was made without --pki)")
        _require_new(pki_dir, "PKI folder")
    if log_key is not None and manifest.log_key != log_key:
        raise VerificationError(
            "the backup's log key is not the published log key you gave: this is not a backup of that matcher"
        )
    _refuse_unlisted(backup, manifest)
    with contextlib.ExitStack() as stack:
        staged_data = stack.enter_context(_staging(data_dir, "restoring"))
        _copy_listed(backup, manifest.part(DATA_PART), staged_data, private=True)
        facts = database_facts(staged_data / DB_FILE)
        if (facts.tree_size, facts.root) != (manifest.tree_size, manifest.root):
            raise VerificationError(
                f"the backed-up database holds a log of {facts.tree_size} entries, not the "
                f"{manifest.tree_size} its manifest records"
                if facts.tree_size != manifest.tree_size
                else "the backed-up database's log root is not the root its manifest records"
            )
        _check_index_files(facts, manifest)
        if _log_public_key(staged_data, facts) != manifest.log_key:
            raise VerificationError("the backed-up log signing key is not the key its manifest records")
        _check_log(staged_data, facts, manifest.log_key)
        if pki_dir is not None:
            staged_pki = stack.enter_context(_staging(pki_dir, "restoring"))
            _copy_listed(backup, manifest.part(PKI_PART), staged_pki, private=False)
            _move_into_place(staged_pki, pki_dir)
        _move_into_place(staged_data, data_dir)
    return manifest


# --- backing up ----------------------------------------------------------------------------------------


def _snapshot_with_retries(data_dir: Path, staging: Path) -> tuple[DatabaseFacts, list[FileEntry]]:
    if not data_dir.is_dir():
        raise NotFoundError(f"data folder {data_dir} does not exist")
    for _attempt in range(SNAPSHOT_ATTEMPTS):
        out = staging / DATA_PART
        if out.exists():
            shutil.rmtree(out)
        _make_dir(out)
        facts = snapshot_database(data_dir, out / DB_FILE)
        os.chmod(out / DB_FILE, PRIVATE_FILE_MODE)
        entries = [_entry_for(out / DB_FILE, f"{DATA_PART}/{DB_FILE}", PRIVATE_FILE_MODE)]
        copied = _copy_index_files(data_dir, out, facts)
        if copied is None:
            continue  # an index was replaced (and its old file pruned) during the copy: take a new instant
        entries += copied
        entries += _copy_tree(
            data_dir,
            out,
            DATA_PART,
            skip=lambda rel: is_transient(rel) or is_database(rel) or is_index_file(rel),
        )
        return facts, entries
    raise UnavailableError(
        f"indexes were replaced during each of {SNAPSHOT_ATTEMPTS} snapshots; "
        "retry when publishing is quieter"
    )


def _copy_index_files(data_dir: Path, out: Path, facts: DatabaseFacts) -> list[FileEntry] | None:
    entries = []
    for rel in sorted(facts.index_files):
        target = out / rel
        _make_dir(target.parent)
        try:
            entry = _copy_file(data_dir / rel, target, f"{DATA_PART}/{rel}", mode=PRIVATE_FILE_MODE)
        except FileNotFoundError:
            return None
        if entry.sha256 != Path(rel).stem:
            raise VerificationError(f"the live index file {rel} does not hash to its name: it is damaged")
        entries.append(entry)
    return entries


def _copy_tree(src: Path, out: Path, part: str, *, skip: Callable[[Path], bool]) -> list[FileEntry]:
    """Copy every regular file under ``src`` (but those ``skip`` names) as 0600 files under ``out``."""
    entries = []
    for rel in _regular_files(src, refuse=ValidationError):
        if skip(rel):
            continue
        target = out / rel
        _make_dir(target.parent)
        try:
            entries.append(_copy_file(src / rel, target, f"{part}/{rel.as_posix()}", mode=PRIVATE_FILE_MODE))
        except FileNotFoundError:
            continue  # removed while we copied (a rotated temporary file): it was not part of the state
    return entries


def _log_public_key(data: Path, facts: DatabaseFacts) -> bytes:
    path = data / LOG_KEY_FILE
    if not path.is_file():
        if facts.tree_size:
            raise PreconditionError(
                f"the data folder holds a log of {facts.tree_size} entries but no {LOG_KEY_FILE}: "
                "without it a restored matcher could not extend the log"
            )
        return b""
    try:
        return bytes(nacl.signing.SigningKey(read_limited(path, 64)).verify_key)
    except (ValueError, TypeError) as exc:
        raise VerificationError(f"{LOG_KEY_FILE} is not an Ed25519 signing key") from exc


def _check_log(data: Path, facts: DatabaseFacts, log_key: bytes) -> None:
    """The copied log must verify under ``log_key`` to the root its newest head names."""
    if not facts.tree_size:
        return
    head = verify_data_dir(data, log_key)
    if head is None or head.head.root_hash != facts.root:
        raise VerificationError("the copied audit log does not verify to its newest signed root")


# --- restoring -----------------------------------------------------------------------------------------


def _refuse_unlisted(backup: Path, manifest: Manifest) -> None:
    listed = {f.path for f in manifest.files}
    for rel in _regular_files(backup, refuse=VerificationError):
        name = rel.as_posix()
        if name != MANIFEST_FILE and name not in listed:
            raise VerificationError(f"{backup} holds {name}, which its manifest does not list")


def _copy_listed(backup: Path, entries: tuple[FileEntry, ...], out: Path, *, private: bool) -> None:
    for entry in entries:
        target = out / entry.inner
        _make_dir(target.parent)
        mode = PRIVATE_FILE_MODE if private else entry.mode & RESTORED_MODE_MASK
        try:
            got = _copy_file(backup / entry.path, target, entry.path, mode=mode)
        except FileNotFoundError:
            raise VerificationError(f"{entry.path} is listed in the manifest but missing") from None
        if (got.size, got.sha256) != (entry.size, entry.sha256):
            raise VerificationError(f"{entry.path} does not match its SHA-256 in the manifest")


def _check_index_files(facts: DatabaseFacts, manifest: Manifest) -> None:
    listed = {f.inner: f for f in manifest.part(DATA_PART)}
    for rel in sorted(facts.index_files):
        entry = listed.get(rel)
        if entry is None:
            raise VerificationError(f"the backup lacks {rel}, which an index row of its database names")
        if entry.sha256 != Path(rel).stem:
            raise VerificationError(f"{DATA_PART}/{rel} does not hash to its name")


# --- files ---------------------------------------------------------------------------------------------


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _require_new(folder: Path, what: str) -> None:
    if folder.is_symlink() or (folder.exists() and (not folder.is_dir() or any(folder.iterdir()))):
        raise AlreadyExistsError(f"{what} {folder} exists and is not empty; give a new or empty folder")


@contextlib.contextmanager
def _staging(target: Path, label: str) -> Iterator[Path]:
    """A private folder beside ``target`` (same filesystem, so the final rename is atomic), removed
    unless it has been renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.{label}-", dir=target.parent))
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(staging: Path, target: Path) -> None:
    _require_new(target, "folder")  # again: someone may have written into it meanwhile
    fsync_dir(staging)
    os.replace(staging, target)  # rename(2) replaces an empty folder atomically
    fsync_dir(target.parent)


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    os.chmod(path, PRIVATE_DIR_MODE)


def _regular_files(root: Path, *, refuse: type[Exception]) -> list[Path]:
    """Every regular file under ``root``, relative; a symbolic link or special file is refused (a copy
    must not follow a link out of the folder)."""
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        for name in [*dirs, *files]:
            try:
                kind = os.lstat(here / name).st_mode
            except FileNotFoundError:
                continue  # gone since the listing (a health probe): it was never state
            if not (stat.S_ISDIR(kind) or stat.S_ISREG(kind)):
                raise refuse(f"{here / name} is a link or special file; a backup holds regular files only")
        found += [(here / name).relative_to(root) for name in files]
    return sorted(found)


def _copy_file(src: Path, dst: Path, name: str, *, mode: int) -> FileEntry:
    """Copy ``src`` to the new file ``dst`` (created with ``mode``, fsynced), hashing as it goes; the
    entry records the mode ``src`` had, for a restore to give back."""
    digest = hashlib.sha256()
    size = 0
    src_fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    had_mode = os.fstat(src_fd).st_mode & 0o777
    with os.fdopen(src_fd, "rb") as reader:
        dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.fchmod(dst_fd, mode)
        with os.fdopen(dst_fd, "wb") as writer:
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
                writer.write(chunk)
                size += len(chunk)
            writer.flush()
            os.fsync(writer.fileno())
    return FileEntry(path=name, size=size, sha256=digest.hexdigest(), mode=had_mode)


def _entry_for(path: Path, name: str, mode: int) -> FileEntry:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as reader:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileEntry(path=name, size=size, sha256=digest.hexdigest(), mode=mode)
