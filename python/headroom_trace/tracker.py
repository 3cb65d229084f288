"""The allocation tracker: every storage that an op creates is an allocation, its death a free.

A TorchDispatchMode sees each op's outputs; a storage not seen before is a new allocation of
`nbytes` (element size x numel, what the CUDA caching allocator would be asked for). A weakref
finalizer on the untyped storage records the free when the last tensor on it dies. Module context
comes from torch's ModTracker (forward hooks plus multi-grad hooks in backward), phase and step
from the engine. Categories are assigned at allocation and corrected once a storage's role is
known (a gradient once it lands in .grad, an optimizer state once it is in optimizer.state).
"""

import itertools
import re
import time
import weakref

import torch
from torch.distributed._tools import mod_tracker as _mod_tracker
from torch.distributed._tools.mod_tracker import ModTracker
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from .errors import TraceError

ALLOC, FREE = 0, 1
LOOP_PHASES = ("forward", "prefill", "decode")
CATEGORIES = ("weights", "lora", "gradients", "optimizer", "activations", "logits", "kv_cache", "workspace")


class Rec:
    """One storage: its size, category and the decoder layer it belongs to (None outside layers)."""

    __slots__ = ("id", "size", "category", "tag", "host", "__weakref__")

    def __init__(self, rid, size, category, tag):
        self.id = rid
        self.size = size
        self.category = category
        self.tag = tag
        self.host = False  # a CPU-side tensor on CUDA too (the optimizer's step counter): not in the stream


class Event:
    __slots__ = ("kind", "rec", "phase", "module", "step", "tag")

    def __init__(self, kind, rec, phase, module, step, tag):
        self.kind = kind
        self.rec = rec
        self.phase = phase
        self.module = module
        self.step = step
        self.tag = tag  # the decoder layer this event happens in (context), else the storage's layer


class Tracker(TorchDispatchMode):
    def __init__(self, layer_prefix, deadline=None):
        super().__init__()
        self.events = []
        self._phase = "load"
        self.last_ctx = None  # the last decoder layer whose module ran in this phase
        self.step = 0
        self.deadline = deadline
        self._ids = itertools.count()
        self._live = {}  # id(untyped storage) -> Rec
        self._cat_stack = []
        self._closed = False
        self._entered = {}  # module fqn -> order of entry, to pick the innermost active module
        self._order = itertools.count()
        self._layer_re = re.compile(r"^" + re.escape(layer_prefix) + r"(\d+)(?:\.|$)") if layer_prefix else None
        self._ops = 0
        self.in_logits = False  # set from the output embedding's forward until the forward ends
        self.bw_seen_layer = False
        self.mt = ModTracker()
        self.mt.register_user_hooks(self._enter, None, self._enter, None)

    @property
    def phase(self):
        return self._phase

    @phase.setter
    def phase(self, value):
        self._phase = value
        self.last_ctx = None

    def _event_tag(self, ctx, rec_tag, free=False):
        """The layer an event belongs to: its module's layer; else the storage's layer, except for the
        model's layer loop freeing the previous layer's hidden state between two layers (inference),
        which belongs to the layer that just ran."""
        if ctx is not None:
            self.last_ctx = ctx
            return ctx
        if (free and self._phase in LOOP_PHASES and not self.in_logits and self.last_ctx is not None
                and rec_tag == self.last_ctx - 1):
            return self.last_ctx
        return rec_tag

    # ---- module context ----
    def name_modules(self, root):
        """Name every module by its FQN under `root`, whichever module a call enters first."""
        prefix = type(root).__name__
        for name, mod in root.named_modules():
            self.mt._known_modules[mod] = f"{prefix}.{name}" if name else prefix
            self.mt._seen_modules.add(mod)

    def _enter(self, mod, *_):
        if mod is None:
            return
        name = self.mt.get_known_fqn(mod)
        if name is not None:
            self._entered[name] = next(self._order)

    def module(self):
        parents = self.mt.parents
        best, best_order = "", -1
        for name in parents:
            if name == "Global":
                continue
            order = self._entered.get(name, -1)
            if order > best_order or (order == best_order and len(name) > len(best)):
                best, best_order = name, order
        # ModTracker names start with the root's class name; drop it for the FQN.
        dot = best.find(".")
        return best[dot + 1 :] if dot >= 0 else ""

    def layer_of(self, name):
        if self._layer_re is None or not name:
            return None
        m = self._layer_re.match(name)
        return int(m.group(1)) if m else None

    # ---- categories ----
    def push_category(self, category):
        self._cat_stack.append(category)

    def pop_category(self):
        self._cat_stack.pop()

    def _category(self, context_layer):
        if self._cat_stack:
            return self._cat_stack[-1]
        phase = self.phase
        if phase in ("forward", "prefill", "decode"):
            return "logits" if self.in_logits else "activations"
        if phase == "backward":
            if context_layer is not None:
                self.bw_seen_layer = True
            return "activations" if self.bw_seen_layer else "logits"
        if phase == "optimizer":
            return "optimizer"
        return "weights"

    # ---- recording ----
    def adopt(self, tensor, category, tag=None, module=""):
        """Record an existing tensor's storage as allocated now (weights at load)."""
        st = tensor.untyped_storage()
        key = id(st)
        rec = self._live.get(key)
        if rec is not None:
            return rec
        return self._new(st, key, category, tag, module, tag)

    def _new(self, st, key, category, tag, module, ctx_tag):
        size = st.nbytes()
        rec = Rec(next(self._ids), size, category, tag)
        if size == 0:
            return rec
        self._live[key] = rec
        self.events.append(Event(ALLOC, rec, self.phase, module, self.step, ctx_tag))
        weakref.finalize(st, self._on_free, key, rec)
        return rec

    def _on_free(self, key, rec):
        if self._closed:
            return
        if self._live.get(key) is rec:
            del self._live[key]
        module = self.module() if self.phase not in ("load", "optimizer") else ""
        self.events.append(Event(FREE, rec, self.phase, module, self.step, self._event_tag(self.layer_of(module), rec.tag, True)))

    def rec_of(self, tensor):
        return self._live.get(id(tensor.untyped_storage()))

    def raw_alloc(self, size, category, tag=None):
        """An allocation no op makes on CPU (a bitsandbytes buffer): returns a Rec to free with raw_free."""
        rec = Rec(next(self._ids), size, category, tag)
        module = self.module()
        self.events.append(Event(ALLOC, rec, self.phase, module, self.step, tag))
        return rec

    def raw_free(self, rec):
        module = self.module()
        self.events.append(Event(FREE, rec, self.phase, module, self.step, self._event_tag(self.layer_of(module), rec.tag, True)))

    def close(self):
        self._closed = True

    def check_time(self):
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TraceError("time_limit", "the trace ran past its time limit (time_limit_s)")

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self._ops += 1
        if self._ops & 255 == 0:
            self.check_time()
        outs = tree_flatten(out)[0]
        module = None
        returns = func._schema.returns
        for i, t in enumerate(outs):
            if not isinstance(t, torch.Tensor):
                continue
            ret = returns[0] if len(returns) == 1 else (returns[i] if i < len(returns) else None)
            if ret is not None and ret.alias_info is not None:
                continue  # a view or an in-place result: no new memory, even of a storage made before tracking
            st = t.untyped_storage()
            key = id(st)
            if key in self._live:
                continue
            if module is None:
                module = self.module() if self.phase not in ("load", "optimizer") else ""
                ctx = self.layer_of(module)
                category = self._category(ctx)
            tag = ctx
            if tag is None:
                tag = self._input_tag(func, args, i)
            ev_tag = self._event_tag(ctx, tag)
            self._new(st, key, category, tag, module, ev_tag)
        return out

    def _input_tag(self, func, args, i):
        """Outside a layer, an output belongs to the layer its inputs belong to (optimizer states, foreach)."""
        name = func.__name__ if hasattr(func, "__name__") else str(func)
        if name.startswith("_foreach") and args and isinstance(args[0], (list, tuple)) and i < len(args[0]):
            t = args[0][i]
            if isinstance(t, torch.Tensor):
                rec = self._live.get(id(t.untyped_storage()))
                return rec.tag if rec is not None else None
            return None
        tags = set()
        for a in tree_flatten(args)[0]:
            if isinstance(a, torch.Tensor):
                rec = self._live.get(id(a.untyped_storage()))
                if rec is not None and rec.tag is not None:
                    tags.add(rec.tag)
        return tags.pop() if len(tags) == 1 else None

    def __enter__(self):
        # ModTracker discards the handles of the multi-grad hooks it puts on each module's tensors; keep them so
        # that `end_step` can remove them (restored on exit).
        self._hook_handles = []
        self._register_multi_grad_hook = _mod_tracker.register_multi_grad_hook

        def register(*args, **kwargs):
            handle = self._register_multi_grad_hook(*args, **kwargs)
            self._hook_handles.append(handle)
            return handle

        _mod_tracker.register_multi_grad_hook = register
        self.mt.__enter__()
        return super().__enter__()

    def end_step(self):
        """After a step's backward: remove the module hooks of its graph. Each hook holds its graph's nodes, and a
        node holds its hooks, a cycle through C++ that Python's collector cannot see: without this every step's
        graph would outlive the step, and with it whatever its autograd contexts keep as attributes (bitsandbytes'
        `ctx.tensors`), which a training loop frees with its loss."""
        for handle in getattr(self, "_hook_handles", ()):
            handle.remove()
        self._hook_handles = []

    def __exit__(self, *exc):
        r = super().__exit__(*exc)
        self.mt.__exit__(*exc)
        _mod_tracker.register_multi_grad_hook = self._register_multi_grad_hook
        self.end_step()
        return r
