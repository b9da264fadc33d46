"""How values that share memory in one process keep sharing it across the cells' processes.

In IPython a NumPy view (``v = x[:2]``, ``x.T``, ``df.values``) writes through to the array
it views, in every later cell. Pickled as it is, a view becomes a copy of its elements. The
pickler of the state (pyboot.save_state) therefore stores a view as its root array (the one
that owns the memory) plus where the view lies in it, and ``rebuild_view`` lays the view over
the restored root again. The root is pickled once per state (pickle's memo), however many
views of it there are, so ``x`` and ``v`` come back sharing memory as they were.

Large arrays (``ArrayFiles``) are not written into the state's pickle but each into a file of
its own, which the next cell maps (copy-on-write) instead of reading it; an array that was not
written to since is not written again. The
workspace is a tmpfs, whose pages count against the memory limit of the cell that writes
them: the array's own memory is then replaced by the file's pages (same contents), so that
saving a cell that fits in its memory limit does not need twice its arrays' size.

A generator that has run to its end (``G = (n for n in L)`` then ``list(G)``) comes back as
an exhausted generator (``exhausted_generator``); a generator with items left cannot be carried.

Imported by the state's unpickler (``rebuild_view``, ``mapped_array`` and
``exhausted_generator`` are named in the state file).
"""

import mmap
import os

MIN_FILE = 1 << 20  # arrays of at least this many bytes get a file of their own
PAGE = mmap.PAGESIZE


def view_reduction(obj, ndarray):
    """The reduction of a NumPy view as (``rebuild_view``, args), or None to pickle ``obj`` as usual.

    ``ndarray``: numpy.ndarray (passed in: this module must not import NumPy for notebooks
    that never use it). Only plain ndarrays over a plain root that owns its memory, with no
    Python objects in it, are rebuilt as views; anything else (a view of ``bytes``, of a
    memory map, of an array subclass) is pickled as NumPy pickles it.
    """
    root = obj.base
    if not isinstance(root, ndarray):
        return None
    while isinstance(root.base, ndarray):
        root = root.base
    if type(root) is not ndarray or obj.dtype.hasobject or root.dtype.hasobject or not obj.size or not root.size:
        return None
    if not (root.flags.c_contiguous or root.flags.f_contiguous):
        return None
    offset = obj.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    if offset < 0 or offset >= root.nbytes:
        return None
    return rebuild_view, (root, offset, obj.shape, obj.strides, obj.dtype, bool(obj.flags.writeable))


def rebuild_view(root, offset, shape, strides, dtype, writeable):
    """The view of ``root`` (bytes ``offset`` into its memory, ``shape``/``strides``/``dtype``)."""
    import numpy

    memory = root.reshape(-1, order="A").view(numpy.uint8)  # the root's bytes, in memory order (no copy)
    view = numpy.ndarray(shape, dtype, buffer=memory, offset=offset, strides=strides)
    if not writeable:
        view.flags.writeable = False
    return view


# the memory maps made by mapped_array in this process: id(mmap) -> (mmap, the file's path)
MAPPED = {}


def mapped_array(path, pad, dtype, shape, order, writeable):
    """The array stored by ``ArrayFiles`` in ``path`` (after ``pad`` bytes), mapped copy-on-write."""
    import numpy

    with open(path, "rb") as file:
        memory = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY)
    MAPPED[id(memory)] = (memory, path)
    array = numpy.ndarray(shape, dtype, buffer=memory, offset=pad, order=order)
    if not writeable:
        array.flags.writeable = False
    return array


def unmodified(address, size):
    """Were none of the pages of a copy-on-write file mapping written to? (False: do not know.)

    /proc/self/pagemap flags each page: a page written to became private (present, not a file
    page). Not every kernel offers it (gVisor does not): then the answer is False.
    """
    import numpy

    first, last = address // PAGE, (address + size - 1) // PAGE
    try:
        fd = os.open("/proc/self/pagemap", os.O_RDONLY)
    except OSError:
        return False
    try:
        data = os.pread(fd, (last - first + 1) * 8, first * 8)
    except OSError:
        return False
    finally:
        os.close(fd)
    if len(data) != (last - first + 1) * 8:
        return False
    flags = numpy.frombuffer(data, numpy.uint64) >> numpy.uint64(61)
    present, swapped = (flags & numpy.uint64(4)) != 0, (flags & numpy.uint64(2)) != 0
    file_page = (flags & numpy.uint64(1)) != 0
    return not bool(numpy.any((present & ~file_page) | swapped))  # a private page: written to


class ArrayFiles:
    """Large arrays of one state save, each in its own file in ``folder`` (see the module docstring).

    An array mapped from a file by the previous cell and not written to since keeps its file;
    any other is written to a new one. ``remap``: replace an array's memory by its file's pages
    once written (only when no other thread of the cell runs: a thread writing into the array
    meanwhile would lose its write).
    """

    def __init__(self, folder, remap):
        self.folder = folder
        self.remap = remap
        self.used = set()
        self.done = {}  # id(array) -> (array, its reduction): one file per array however often pickled

    def reduction(self, obj):
        """(``mapped_array``, args) for a large contiguous array, else None."""
        if obj.nbytes < MIN_FILE or obj.dtype.hasobject:
            return None
        if obj.flags.c_contiguous:
            order = "C"
        elif obj.flags.f_contiguous:
            order = "F"
        else:
            return None
        if id(obj) in self.done:
            return self.done[id(obj)][1]
        address = obj.__array_interface__["data"][0]
        pad = address % PAGE  # the file's pages line up with the memory's pages (see _remap)
        mapped = MAPPED.get(id(obj.base))
        path = None
        if mapped is not None and mapped[0] is obj.base and os.path.isfile(mapped[1]) \
                and unmodified(address, obj.nbytes):
            path = mapped[1]
        if path is None:
            path = os.path.join(self.folder, "%s-%d" % (os.urandom(12).hex(), obj.nbytes))
            self._write(path, pad, obj.reshape(-1, order="A").view("u1"))
            if self.remap and obj.flags.owndata and obj.flags.writeable:  # NumPy's own (malloc'd) memory only
                self._remap(path, address, obj.nbytes)
        self.used.add(os.path.basename(path))
        reduction = mapped_array, (path, pad, obj.dtype, obj.shape, order, bool(obj.flags.writeable))
        self.done[id(obj)] = (obj, reduction)
        return reduction

    def _write(self, path, pad, memory):
        os.makedirs(self.folder, exist_ok=True)
        tmp = "%s.%s.tmp" % (path, os.urandom(8).hex())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(bytes(pad))
                file.write(memory)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    @staticmethod
    def _remap(path, address, size):
        """Map the file over the array's whole pages (private, same bytes): its memory is freed.

        The tmpfs pages of the file are already counted; the array's own pages need not be.
        The partial pages at both ends stay as they are (they may hold other objects).
        """
        start = -(-address // PAGE) * PAGE
        end = (address + size) // PAGE * PAGE
        if end - start < PAGE:
            return
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_long)
        fd = os.open(path, os.O_RDONLY)
        try:
            # the file holds the memory's bytes from its page boundary on (pad), so page for page
            libc.mmap(start, end - start, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | 0x10,  # MAP_FIXED
                      fd, start - (address - address % PAGE))
        finally:
            os.close(fd)

    def remove_unused(self):
        """Delete the files of arrays the saved state no longer names."""
        try:
            names = os.listdir(self.folder)
        except OSError:
            return
        for name in names:
            if name not in self.used:
                try:
                    os.unlink(os.path.join(self.folder, name))
                except OSError:
                    pass


def generator_reduction(obj):
    """(``exhausted_generator``, args) for a generator that has finished, else None."""
    if obj.gi_frame is not None:  # not finished: its frame (where it stopped) cannot be pickled
        return None
    return exhausted_generator, (obj.__name__, obj.__qualname__)


def exhausted_generator(name, qualname):
    """A generator that yields nothing more, named as the one it stands for (its repr)."""
    generator = (item for item in ())
    for _ in generator:
        pass
    generator.__name__, generator.__qualname__ = name, qualname
    return generator
