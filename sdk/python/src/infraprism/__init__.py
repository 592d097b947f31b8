"""InfraPrism for Python: OpenAI clients that report every call's tokens and attribution.

from infraprism import InfraPrismOpenAI

client = InfraPrismOpenAI()  # INFRAPRISM_API_KEY, INFRAPRISM_BASE_URL, OPENAI_API_KEY
client.chat.completions.create(
    model="gpt-4o",
    messages=[{"role": "user", "content": "Hi"}],
    entity_type="customer",
    entity_id="acme-corp",
    session_id="conv-123",
    tags={"feature": "chatbot"},
)
"""

from ._client import AsyncInfraPrismOpenAI, InfraPrismOpenAI
from ._version import __version__

__all__ = ["AsyncInfraPrismOpenAI", "InfraPrismOpenAI", "__version__"]
