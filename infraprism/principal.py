"""The authenticated principal behind an API key (request.user for key-authenticated calls).

Kept separate from django.contrib.auth users so that dashboard members (Django users belonging
to an organization) can later authenticate with another class and expose the same attributes.
"""

from infraprism.models import ApiKey, Organization


class ApiKeyPrincipal:
    is_authenticated = True
    is_anonymous = False
    is_staff = False

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key

    @property
    def organization(self) -> Organization:
        return self.api_key.organization

    @property
    def log_label(self) -> str:
        return f"org={self.organization.slug} key={self.api_key.prefix}"

    def __str__(self) -> str:
        return self.log_label
