"""Finding a model backend by provider name (entry points, with the built-ins as a fallback)."""

from __future__ import annotations

import pytest

from crashpilot.backends.models import available, model_class
from crashpilot.errors import ConfigError
from crashpilot.protocols import Model


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_builtin_providers_resolve_to_model_classes(provider: str) -> None:
    cls = model_class(provider)
    assert cls.provider == provider
    model = cls("some-model", api_key="k")
    assert isinstance(model, Model) and model.name == "some-model"


def test_unknown_provider_names_the_choices() -> None:
    assert {"anthropic", "openai"} <= set(available())
    with pytest.raises(ConfigError, match="unknown model provider 'gemini'.*anthropic, openai"):
        model_class("gemini")
