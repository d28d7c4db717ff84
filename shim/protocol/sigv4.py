"""AWS Signature Version 4 checks for requests to the services served (ECS, CloudWatch Logs): the
credential scope must name the service the request's X-Amz-Target belongs to.

The expected signature is computed by botocore's own signer over the request as received
(method, path, query, the headers the client says it signed, body, X-Amz-Date), so the
server agrees with boto3 and the AWS CLI byte for byte; only header parsing is done here.
"""

import configparser
import datetime
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials
from werkzeug import Request

from shim.calls import Caller
from shim.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "ecs"
"""The signing name when the request names no service the server speaks."""
TERMINATOR = "aws4_request"
MAX_CLOCK_SKEW = datetime.timedelta(minutes=15)
_PARAMETERS = ("Credential", "Signature", "SignedHeaders")
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


@dataclass(frozen=True)
class Authorization:
    """The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header."""

    access_key: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str


@dataclass(frozen=True)
class AccessKey:
    """An access key the server knows: its secret, and who calls signed with it are made as."""

    secret: str
    caller: Caller | None


USER_OPTION = "kubernetes_user"
GROUPS_OPTION = "kubernetes_groups"


def load_credentials(path: str) -> dict[str, AccessKey]:
    """The access keys of every section of an ~/.aws/credentials style file, by key id. A section
    may map its key to a Kubernetes identity (`kubernetes_user`, and `kubernetes_groups`
    separated by commas); the section's name is then the IAM user name ECS denials show."""
    parser = configparser.ConfigParser(interpolation=None)
    with open(path, encoding="utf-8") as file:
        parser.read_file(file)
    keys = {
        section["aws_access_key_id"].strip(): AccessKey(section["aws_secret_access_key"].strip(), _caller(section))
        for section in parser.values()
        if "aws_access_key_id" in section and "aws_secret_access_key" in section
    }
    if not keys:
        raise ValueError(f"{path} has no section with aws_access_key_id and aws_secret_access_key")
    return keys


def _caller(section: configparser.SectionProxy) -> Caller | None:
    user = section.get(USER_OPTION, "").strip()
    if not user:
        return None
    groups = tuple(group.strip() for group in section.get(GROUPS_OPTION, "").split(",") if group.strip())
    return Caller(iam_user=section.name, user=user, groups=groups)


def scope_region(request: Request) -> str | None:
    """The region of the request's SigV4 credential scope, if it carries a readable one."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    try:
        return parse_authorization(header).region or None
    except IncompleteSignatureException:
        return None


def verify_signature(
    request: Request, credentials: Mapping[str, AccessKey], now: datetime.datetime, service: str = SERVICE
) -> AccessKey:
    """The key of `credentials` that signed `request` for `service` (its SigV4 signing name);
    else the error AWS answers with."""
    header = request.headers.get("Authorization")
    if header is None:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    authorization = parse_authorization(header)
    timestamp = _request_timestamp(request)
    _check_scope(authorization, timestamp, service)
    _check_clock_skew(timestamp, now)
    key = credentials.get(authorization.access_key)
    if key is None:
        raise UnrecognizedClientException("The security token included in the request is invalid.")
    _check_payload_hash(request)
    expected = expected_signature(request, authorization, key.secret, timestamp)
    absent = [name for name in authorization.signed_headers if name not in request.headers]
    if absent or not hmac.compare_digest(expected.encode(), authorization.signature.encode()):
        # AWS refuses a SignedHeaders list naming a header the request does not carry as a mismatch.
        raise InvalidSignatureException(SIGNATURE_MISMATCH)
    return key


def parse_authorization(header: str) -> Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm}'.")
    parameters = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        parameters[name] = value
    missing = [name for name in _PARAMETERS if not parameters.get(name)]
    if missing:
        required = " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
        raise IncompleteSignatureException(f"{required} Authorization={header}")
    scope = parameters["Credential"].split("/")
    if len(scope) != 5:
        raise IncompleteSignatureException(
            f"Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{parameters['Credential']}'"
        )
    signed_headers = tuple(parameters["SignedHeaders"].lower().split(";"))
    if "host" not in signed_headers:
        raise IncompleteSignatureException("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    access_key, date, region, service, terminator = scope
    return Authorization(access_key, date, region, service, terminator, signed_headers, parameters["Signature"])


def expected_signature(
    request: Request, authorization: Authorization, secret: str, timestamp: datetime.datetime
) -> str:
    """The signature botocore computes for `request` as received, with `secret`."""
    signer = _ReceivedRequestSigner(
        Credentials(authorization.access_key, secret),
        authorization.service,
        authorization.region,
        authorization.signed_headers,
    )
    url = f"{request.scheme}://{request.host}{request.path}"
    if request.query_string:
        url += f"?{request.query_string.decode('latin-1')}"
    received = AWSRequest(method=request.method, url=url, data=request.get_data())
    for name, value in request.headers.items():
        received.headers[name] = value
    received.context["timestamp"] = timestamp.strftime(SIGV4_TIMESTAMP)
    canonical_request = signer.canonical_request(received)
    signature: str = signer.signature(signer.string_to_sign(received, canonical_request), received)
    return signature


class _ReceivedRequestSigner(SigV4Auth):
    """botocore's SigV4 signer, told which headers the client signed instead of choosing them."""

    def __init__(self, credentials: Credentials, service: str, region: str, signed_headers: tuple[str, ...]) -> None:
        super().__init__(credentials, service, region)
        self.signed_header_names = signed_headers

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        signed = HTTPHeaders()
        for name in self.signed_header_names:
            for value in request.headers.get_all(name, []):
                signed[name] = value
        return signed


def _request_timestamp(request: Request) -> datetime.datetime:
    value = request.headers.get("X-Amz-Date")
    if value is None:
        raise IncompleteSignatureException("Authorization header requires existence of a 'X-Amz-Date' header.")
    try:
        return datetime.datetime.strptime(value, SIGV4_TIMESTAMP).replace(tzinfo=datetime.UTC)
    except ValueError:
        raise IncompleteSignatureException(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        ) from None


def _check_scope(authorization: Authorization, timestamp: datetime.datetime, service: str) -> None:
    if authorization.service != service:
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{service}'. ")
    if authorization.terminator != TERMINATOR:
        raise InvalidSignatureException(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{authorization.terminator}'."
        )
    if not authorization.region:
        raise InvalidSignatureException("Credential should be scoped to a valid region, not ''. ")
    date = timestamp.strftime("%Y%m%d")
    if authorization.date != date:
        raise InvalidSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{authorization.date}' != '{date}', from '{timestamp.strftime(SIGV4_TIMESTAMP)}'."
        )


def _check_clock_skew(timestamp: datetime.datetime, now: datetime.datetime) -> None:
    signed_at, at = timestamp.strftime(SIGV4_TIMESTAMP), now.strftime(SIGV4_TIMESTAMP)
    if timestamp < now - MAX_CLOCK_SKEW:
        earliest = (now - MAX_CLOCK_SKEW).strftime(SIGV4_TIMESTAMP)
        raise InvalidSignatureException(
            f"Signature expired: {signed_at} is now earlier than {earliest} ({at} - 15 min.)"
        )
    if timestamp > now + MAX_CLOCK_SKEW:
        latest = (now + MAX_CLOCK_SKEW).strftime(SIGV4_TIMESTAMP)
        raise InvalidSignatureException(
            f"Signature not yet current: {signed_at} is still later than {latest} ({at} + 15 min.)"
        )


def _check_payload_hash(request: Request) -> None:
    declared = request.headers.get("X-Amz-Content-SHA256")
    if declared is not None and declared != hashlib.sha256(request.get_data()).hexdigest():
        raise InvalidSignatureException("The provided 'x-amz-content-sha256' header does not match what was computed.")
