"""Settings errors with the real Conformity installed: code written for PySOA catches them unchanged."""

from __future__ import annotations

import pytest
from conformity.settings import Settings as ConformitySettings

from pysoa_like.client.settings import ClientSettings
from pysoa_like.common.settings import SettingsError
from pysoa_like.server.settings import ServerSettings


@pytest.mark.parametrize("settings_class", [ClientSettings, ServerSettings])
def test_settings_errors_are_conformitys_improperly_configured(settings_class: type) -> None:
    """A bad settings dict raises an error that ``except Settings.ImproperlyConfigured`` (Conformity's) catches."""
    with pytest.raises(ConformitySettings.ImproperlyConfigured) as caught:
        settings_class({"transport": {"path": "no.such.module:Transport"}})
    assert isinstance(caught.value, SettingsError)
    assert "transport.path" in str(caught.value)
