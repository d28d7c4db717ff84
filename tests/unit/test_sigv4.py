import datetime
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import Request
from werkzeug.test import EnvironBuilder

from shim.calls import Caller
from shim.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from shim.protocol.sigv4 import AccessKey, load_credentials, scope_region, verify_signature

ACCESS_KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
CREDENTIALS = {ACCESS_KEY: AccessKey(SECRET, caller=None)}
TARGET = "AmazonEC2ContainerServiceV20141113.ListClusters"


def signed(
    body: bytes = b"{}",
    *,
    secret: str = SECRET,
    access_key: str = ACCESS_KEY,
    region: str = "eu-west-1",
    service: str = "ecs",
    extra_headers: dict[str, str] | None = None,
) -> AWSRequest:
    request = AWSRequest(
        method="POST",
        url="http://localhost/",
        data=body,
        headers={
            "X-Amz-Target": TARGET,
            "Content-Type": "application/x-amz-json-1.1",
            **(extra_headers or {}),
        },
    )
    SigV4Auth(Credentials(access_key, secret), service, region).add_auth(request)
    return request


def received(request: AWSRequest, **header_changes: str | None) -> Request:
    headers = dict(request.headers.items())
    for name, value in header_changes.items():
        headers.pop(name.replace("_", "-"), None)
        if value is not None:
            headers[name.replace("_", "-")] = value
    return EnvironBuilder(
        method=request.method, base_url="http://localhost/", headers=headers, data=request.body
    ).get_request()


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def test_request_signed_by_botocore_verifies() -> None:
    verify_signature(received(signed()), CREDENTIALS, now())


def test_wrong_secret_is_an_invalid_signature_with_aws_message() -> None:
    with pytest.raises(InvalidSignatureException) as caught:
        verify_signature(received(signed(secret="not-the-secret")), CREDENTIALS, now())
    assert caught.value.status == 403
    assert caught.value.message.startswith(
        "The request signature we calculated does not match the signature you provided."
    )


def test_unknown_access_key_is_unrecognized_client() -> None:
    with pytest.raises(UnrecognizedClientException) as caught:
        verify_signature(received(signed(access_key="AKIDUNKNOWN")), CREDENTIALS, now())
    assert caught.value.status == 403
    assert caught.value.message == "The security token included in the request is invalid."


def test_missing_authorization_is_missing_authentication_token() -> None:
    request = received(signed(), Authorization=None)
    with pytest.raises(MissingAuthenticationTokenException, match=r"^Missing Authentication Token$"):
        verify_signature(request, CREDENTIALS, now())


def test_changed_signed_header_breaks_the_signature() -> None:
    request = received(signed(), X_Amz_Target="AmazonEC2ContainerServiceV20141113.DeleteCluster")
    with pytest.raises(InvalidSignatureException):
        verify_signature(request, CREDENTIALS, now())


def test_header_outside_signed_headers_may_change() -> None:
    original = signed(extra_headers={"User-Agent": "aws-cli/2"})
    assert "user-agent" not in original.headers["Authorization"]
    verify_signature(received(original, User_Agent="something-else/1"), CREDENTIALS, now())


@settings(max_examples=50, deadline=None)
@given(body=st.binary(min_size=1, max_size=200), flip=st.integers(min_value=0))
def test_any_changed_body_byte_breaks_the_signature(body: bytes, flip: int) -> None:
    request = signed(body)
    verify_signature(received(request), CREDENTIALS, now())
    index = flip % len(body)
    tampered = body[:index] + bytes([body[index] ^ 1]) + body[index + 1 :]
    altered = EnvironBuilder(
        method="POST", base_url="http://localhost/", headers=dict(request.headers.items()), data=tampered
    ).get_request()
    with pytest.raises(InvalidSignatureException):
        verify_signature(altered, CREDENTIALS, now())


def test_signature_older_than_fifteen_minutes_has_expired() -> None:
    request = received(signed())
    signed_at = request.headers["X-Amz-Date"]
    later = now() + datetime.timedelta(minutes=16)
    with pytest.raises(InvalidSignatureException) as caught:
        verify_signature(request, CREDENTIALS, later)
    assert caught.value.message.startswith(f"Signature expired: {signed_at} is now earlier than ")
    assert caught.value.message.endswith(" - 15 min.)")


def test_signature_from_the_future_is_not_yet_current() -> None:
    earlier = now() - datetime.timedelta(minutes=16)
    with pytest.raises(InvalidSignatureException, match=r"^Signature not yet current: "):
        verify_signature(received(signed()), CREDENTIALS, earlier)


def test_skew_within_fifteen_minutes_is_accepted() -> None:
    verify_signature(received(signed()), CREDENTIALS, now() + datetime.timedelta(minutes=14))


def test_credential_scoped_to_another_service_is_rejected() -> None:
    with pytest.raises(InvalidSignatureException, match="Credential should be scoped to correct service: 'ecs'"):
        verify_signature(received(signed(service="s3")), CREDENTIALS, now())


def test_scope_date_must_match_x_amz_date() -> None:
    request = signed()
    next_day = datetime.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ") + datetime.timedelta(days=1)
    with pytest.raises(InvalidSignatureException, match="Date in Credential scope does not match"):
        verify_signature(received(request, X_Amz_Date=next_day.strftime("%Y%m%dT%H%M%SZ")), CREDENTIALS, now())


def test_missing_x_amz_date_is_an_incomplete_signature() -> None:
    with pytest.raises(IncompleteSignatureException, match="X-Amz-Date"):
        verify_signature(received(signed(), X_Amz_Date=None), CREDENTIALS, now())


def test_unreadable_x_amz_date_is_an_incomplete_signature() -> None:
    with pytest.raises(IncompleteSignatureException, match="ISO8601"):
        verify_signature(received(signed(), X_Amz_Date="yesterday"), CREDENTIALS, now())


def test_authorization_without_its_parameters_names_each_missing_one() -> None:
    request = received(signed(), Authorization="AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/x/ecs/aws4_request")
    with pytest.raises(IncompleteSignatureException) as caught:
        verify_signature(request, CREDENTIALS, now())
    assert caught.value.status == 400
    assert "requires 'Signature' parameter" in caught.value.message
    assert "requires 'SignedHeaders' parameter" in caught.value.message
    assert "requires 'Credential' parameter" not in caught.value.message


def test_other_algorithm_is_an_incomplete_signature() -> None:
    request = received(signed(), Authorization="AWS3-HTTPS AWSAccessKeyId=AKIDEXAMPLE,Signature=abc")
    with pytest.raises(IncompleteSignatureException, match="Unsupported AWS 'algorithm': 'AWS3-HTTPS'"):
        verify_signature(request, CREDENTIALS, now())


def test_host_must_be_signed() -> None:
    original = signed()
    header = original.headers["Authorization"].replace("SignedHeaders=", "SignedHeaders=x;").replace(";host", "")
    with pytest.raises(IncompleteSignatureException, match="'Host' must be a 'SignedHeader'"):
        verify_signature(received(original, Authorization=header), CREDENTIALS, now())


def test_declared_payload_hash_must_match_the_body() -> None:
    request = signed(extra_headers={"X-Amz-Content-SHA256": "0" * 64})
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        verify_signature(received(request), CREDENTIALS, now())


def test_scope_region_reads_the_credential_scope() -> None:
    assert scope_region(received(signed(region="ap-southeast-2"))) == "ap-southeast-2"
    assert scope_region(received(signed(), Authorization=None)) is None
    assert scope_region(received(signed(), Authorization="garbage")) is None


def test_credentials_come_from_every_section_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text(
        "[default]\naws_access_key_id = AKIDONE\naws_secret_access_key = secret/one\n\n"
        "[ci]\naws_access_key_id=AKIDTWO\naws_secret_access_key=secret%two\n\n"
        "[incomplete]\naws_access_key_id = AKIDTHREE\n"
    )
    assert load_credentials(str(path)) == {
        "AKIDONE": AccessKey("secret/one", caller=None),
        "AKIDTWO": AccessKey("secret%two", caller=None),
    }


def test_a_section_maps_its_key_to_a_kubernetes_user_and_groups(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text(
        "[team-a]\naws_access_key_id = AKIDA\naws_secret_access_key = a\n"
        "kubernetes_user = alice\nkubernetes_groups = team-a, developers ,\n"
    )
    assert load_credentials(str(path))["AKIDA"].caller == Caller("team-a", "alice", ("team-a", "developers"))


def test_the_signing_key_is_told(tmp_path: Path) -> None:
    caller = Caller("team-a", "alice")
    key = verify_signature(received(signed()), {ACCESS_KEY: AccessKey(SECRET, caller)}, now())
    assert key.caller == caller


def test_credentials_file_without_keys_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text("[default]\nregion = us-east-1\n")
    with pytest.raises(ValueError, match="no section with aws_access_key_id"):
        load_credentials(str(path))
