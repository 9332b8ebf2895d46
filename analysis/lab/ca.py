"""The lab's certificate authority: a throwaway CA and server certificates for the lab's names."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True, slots=True)
class ServerCert:
    name: str
    cert_path: Path  # PEM certificate (the leaf; the CA is not sent, clients trust it directly)
    key_path: Path  # PEM private key (unencrypted, lab only)


def _certificate(subject: x509.Name, issuer: x509.Name, public_key, signing_key: ec.EllipticCurvePrivateKey,
                 extensions: list[tuple[x509.ExtensionType, bool]]) -> x509.Certificate:
    """A certificate valid from an hour ago for 30 days, signed with ``signing_key`` (SHA-256)."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


def _common_name(name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])


@dataclass(slots=True)
class LabCA:
    """A CA whose key lives only in memory; its certificate is written to ``cert_path`` for clients."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    cert_path: Path

    @classmethod
    def create(cls, folder: Path, common_name: str = "maildetour lab CA") -> LabCA:
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = _common_name(common_name)
        usage = x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False)
        cert = _certificate(name, name, key.public_key(), key, [
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (usage, True),
            (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
        ])
        path = folder / "lab-ca.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(key, cert, path)

    def issue(self, folder: Path, name: str, addresses: list[str] = ()) -> ServerCert:
        """A server certificate for ``name`` (and the given IP addresses) signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        alt: list[x509.GeneralName] = [x509.DNSName(name)]
        alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
        cert = _certificate(_common_name(name), self.cert.subject, key.public_key(), self.key, [
            (x509.SubjectAlternativeName(alt), False),
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False),
        ])
        folder.mkdir(parents=True, exist_ok=True)
        cert_path = folder / f"{name}.pem"
        key_path = folder / f"{name}.key"
        # the leaf only: clients trust the CA directly
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.touch(mode=0o600)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return ServerCert(name, cert_path, key_path)
