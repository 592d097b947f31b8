"""openai types its resource properties as plain properties (cached at run time): so do we."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    cached_property = property
else:
    from functools import cached_property

__all__ = ["cached_property"]
