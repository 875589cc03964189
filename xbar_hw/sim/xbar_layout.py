"""Pack and unpack the PE tile's port payloads, from the port map that
:func:`xbar_hw.rtl.generate.generate` writes (``<top>.ports.json``).

Plain Python, no torch, no cocotb: the host (stimulus, results) and the testbench inside
the simulator (drivers, monitors) both use it. A shape is ``{"width", "signed"}``, a
struct ``{"width", "fields": {name: {"offset", ...shape}}}`` or an array
``{"width", "array": {"length", ...element shape}}``, least significant bit first.
"""

from __future__ import annotations


class Layout:
    """One port's payload shape: :meth:`pack` a value (int, list or dict) into the port's
    integer, :meth:`unpack` the integer into a value of the same form."""

    def __init__(self, shape: dict):
        self.width = int(shape["width"])
        self.signed = bool(shape.get("signed", False))
        self.fields: list[tuple[str, int, Layout]] = []
        self.elem: Layout | None = None
        self.length = 0
        if "fields" in shape:
            self.fields = sorted(((name, int(f["offset"]), Layout(f)) for name, f in shape["fields"].items()),
                                 key=lambda t: t[1])
        elif "array" in shape:
            self.length = int(shape["array"]["length"])
            self.elem = Layout(shape["array"])
        self.names = [name for name, _, _ in self.fields]
        self.mask = (1 << self.width) - 1

    def pack(self, value) -> int:
        """A struct takes a dict (missing fields 0) or a list in field order (least
        significant first); an array a list; a scalar an int (negative: two's complement)."""
        if self.fields:
            if isinstance(value, dict):
                out = 0
                for name, off, lay in self.fields:
                    if name in value:
                        out |= lay.pack(value[name]) << off
                return out
            out = 0
            for (name, off, lay), v in zip(self.fields, value):
                out |= lay.pack(v) << off
            return out
        if self.elem is not None:
            w, pack = self.elem.width, self.elem.pack
            if self.elem.elem is None and not self.elem.fields:  # flat array of scalars: the fast path
                m = self.elem.mask
                out = 0
                for i, v in enumerate(value):
                    out |= (int(v) & m) << (i * w)
                return out
            out = 0
            for i, v in enumerate(value):
                out |= pack(v) << (i * w)
            return out
        return int(value) & self.mask

    def unpack(self, raw: int):
        raw = int(raw) & self.mask
        if self.fields:
            return {name: lay.unpack(raw >> off) for name, off, lay in self.fields}
        if self.elem is not None:
            w = self.elem.width
            return [self.elem.unpack(raw >> (i * w)) for i in range(self.length)]
        if self.signed and raw >> (self.width - 1):
            return raw - (1 << self.width)
        return raw


def port_layouts(ports: dict) -> dict[str, Layout]:
    """Layouts of every port of a port map (``ports.json``'s document or its "ports")."""
    ports = ports.get("ports", ports)
    return {name: Layout(shape) for name, shape in ports.items()}
