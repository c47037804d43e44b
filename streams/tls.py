"""TLS client contexts built from the settings, for the clients that take an ``ssl.SSLContext``.

confluent-kafka reads file paths (``Settings.librdkafka()``); aiokafka, under faust, needs a
context object instead: this module builds it from the same ``EMR_STREAMS_KAFKA_SSL_*``
settings so both kinds of client trust and present the same certificates.
"""

from __future__ import annotations

import ssl

from streams.config import KafkaSettings
from streams.errors import ConfigError

__all__ = ["kafka_ssl_context"]


def kafka_ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """The client context for the brokers, or None when the protocol does not use TLS.

    Trusts ``ssl_cafile`` (the system's store when unset), presents ``ssl_certfile`` /
    ``ssl_keyfile`` when set (mutual TLS) and checks the broker's host name unless
    ``ssl_check_hostname`` is false. The certificate is always verified.

    Raises ConfigError when a file cannot be read or the key does not match the certificate.
    """
    if not kafka.uses_ssl:
        return None
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH,
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile is not None else None)
        context.check_hostname = kafka.ssl_check_hostname
        if kafka.ssl_certfile is not None:
            password = (kafka.ssl_key_password.get_secret_value()
                        if kafka.ssl_key_password is not None else None)
            context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile, password)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot build the Kafka TLS context: {exc}") from exc
    return context
