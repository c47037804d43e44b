"""The faust (aiokafka) broker credentials, from the same settings as the confluent clients."""

from __future__ import annotations

import faust

from streams.config import KafkaSettings
from streams.tls import kafka_ssl_context

__all__ = ["broker_credentials"]


def broker_credentials(kafka: KafkaSettings) -> faust.auth.Credentials | None:
    """What ``faust.App(broker_credentials=...)`` needs for ``kafka.security_protocol``.

    SSL gives ``SSLCredentials`` (TLS, mutual when a client certificate is set);
    SASL_SSL and SASL_PLAINTEXT give ``SASLCredentials`` (with the TLS context for
    SASL_SSL); PLAINTEXT gives None. Raises ConfigError when the TLS files are unusable.
    """
    context = kafka_ssl_context(kafka)
    if kafka.uses_sasl:
        password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        return faust.SASLCredentials(username=kafka.sasl_username, password=password,
                                     ssl_context=context, mechanism=kafka.sasl_mechanism)
    if context is not None:
        return faust.SSLCredentials(context)
    return None
