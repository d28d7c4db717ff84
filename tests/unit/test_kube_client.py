"""How the kube layer's libcurl handles take the TLS, proxy and server-name settings of a
client configuration, as the client's own urllib3 pool does."""

import certifi
import pycurl
from kubernetes import client

from shim.kube.client import curl_settings

HOST = "https://10.0.0.1:6443"


def configuration(**settings: object) -> client.Configuration:
    made = client.Configuration(host=HOST)
    for name, value in settings.items():
        setattr(made, name, value)
    return made


def test_a_kubeconfigs_ca_and_client_certificate_are_used_and_verified() -> None:
    settings = curl_settings(configuration(ssl_ca_cert="/ca.crt", cert_file="/client.crt", key_file="/client.key"))
    assert settings.base_url == HOST
    assert settings.options[pycurl.CAINFO] == "/ca.crt"
    assert settings.options[pycurl.SSLCERT] == "/client.crt"
    assert settings.options[pycurl.SSLKEY] == "/client.key"
    assert pycurl.SSL_VERIFYPEER not in settings.options
    assert pycurl.SSL_VERIFYHOST not in settings.options
    assert settings.options[pycurl.HTTP_VERSION] == pycurl.CURL_HTTP_VERSION_1_1


def test_without_a_ca_the_public_roots_are_trusted() -> None:
    assert curl_settings(configuration()).options[pycurl.CAINFO] == certifi.where()


def test_ca_data_in_memory_is_passed_as_it_is() -> None:
    options = curl_settings(configuration(ca_cert_data="-----BEGIN CERTIFICATE-----")).options
    assert options[pycurl.CAINFO_BLOB] == b"-----BEGIN CERTIFICATE-----"
    assert pycurl.CAINFO not in options


def test_insecure_skip_tls_verify_turns_off_both_checks() -> None:
    options = curl_settings(configuration(verify_ssl=False)).options
    assert options[pycurl.SSL_VERIFYPEER] == 0
    assert options[pycurl.SSL_VERIFYHOST] == 0


def test_a_proxy_is_used_unless_no_proxy_names_the_server() -> None:
    proxied = curl_settings(configuration(proxy="http://proxy:3128", proxy_headers={"Proxy-Authorization": "Basic x"}))
    assert proxied.options[pycurl.PROXY] == "http://proxy:3128"
    assert proxied.options[pycurl.PROXYHEADER] == ["Proxy-Authorization: Basic x"]
    bypassed = curl_settings(configuration(proxy="http://proxy:3128", no_proxy="10.0.0.0/8"))
    assert pycurl.PROXY not in bypassed.options


def test_a_tls_server_name_is_requested_and_verified_while_connecting_to_the_host() -> None:
    settings = curl_settings(configuration(tls_server_name="kubernetes.default"))
    assert settings.base_url == "https://kubernetes.default:6443"
    assert settings.options[pycurl.CONNECT_TO] == ["kubernetes.default:6443:10.0.0.1:6443"]
