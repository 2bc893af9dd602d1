"""The webhook target guard and the pinned connection: every resolved address is checked,
IPv6 forms embedding a refused IPv4 address are refused, ports are 80/443 unless allow-listed,
URLs with credentials are refused, and the request goes to the address that was checked."""

import shutil
import ssl
import subprocess

import pytest
import urllib3.util.connection

from oms.actions.actors import Actor
from oms.api.testing import api_client
from oms.tests.conftest import Receiver
from oms.webhooks.delivery import UnsafeTargetUrl, webhook_subscription_save, webhook_target_check
from oms.webhooks.models import WebhookDelivery, WebhookSubscription
from packages.engine import package_run
from packages.models import Status
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db
HOST = "hooks.example.test"
PUBLIC = "93.184.215.14"


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "169.254.169.254", "100.64.0.1", "::1", "fd00::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254",          # IPv4-mapped
    "::127.0.0.1", "::10.0.0.1",                           # IPv4-compatible
    "64:ff9b::127.0.0.1", "64:ff9b::10.0.0.1",             # NAT64 (RFC 6052)
    "64:ff9b:1::a00:1", "64:ff9b:1::808:808",              # local-use NAT64 (RFC 8215)
    "2002:7f00:1::1", "2002:a9fe:a9fe::",                  # 6to4 of 127.0.0.1, 169.254.169.254
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",                # Teredo, client 10.0.0.1
])
def test_host_resolving_to_a_refused_form_is_refused(fake_dns, address):
    fake_dns.answers[HOST] = [address]
    with pytest.raises(UnsafeTargetUrl, match="non-public"):
        webhook_target_check(f"https://{HOST}/hook")
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(UnsafeTargetUrl):
        webhook_target_check(f"https://{literal}/hook")


@pytest.mark.parametrize("address", [PUBLIC, "64:ff9b::8.8.8.8", "2002:808:808::1",
                                     "2606:4700:4700::1111"])
def test_public_addresses_and_forms_embedding_one_are_accepted(fake_dns, address):
    fake_dns.answers[HOST] = [address]
    target = webhook_target_check(f"https://{HOST}/hook")
    assert (target.address, target.port, target.hostname) == (address, 443, HOST)


def test_every_resolved_address_is_checked(fake_dns):
    fake_dns.answers[HOST] = [PUBLIC, "10.0.0.7"]
    with pytest.raises(UnsafeTargetUrl, match="10.0.0.7"):
        webhook_target_check(f"https://{HOST}/hook")


def test_ports_other_than_80_and_443_need_their_host_port_allow_listed(fake_dns, settings):
    fake_dns.answers[HOST] = [PUBLIC]
    assert webhook_target_check(f"http://{HOST}/h").port == 80
    assert webhook_target_check(f"https://{HOST}:443/h").port == 443
    settings.WEBHOOK_ALLOWED_HOSTS = [HOST]  # the host alone: addresses trusted, ports not
    with pytest.raises(UnsafeTargetUrl, match="port 8443"):
        webhook_target_check(f"https://{HOST}:8443/h")
    settings.WEBHOOK_ALLOWED_HOSTS = [f"{HOST}:8443", "[::1]:9000"]
    fake_dns.answers[HOST] = ["10.0.0.7"]  # an allow-listed host:port skips the address check
    assert webhook_target_check(f"https://{HOST}:8443/h").address == "10.0.0.7"
    assert webhook_target_check("http://[::1]:9000/h").address == "::1"
    with pytest.raises(UnsafeTargetUrl, match="port 8444"):
        webhook_target_check(f"https://{HOST}:8444/h")
    with pytest.raises(UnsafeTargetUrl, match="non-public"):
        webhook_target_check(f"https://{HOST}/h")  # port 443 of that host is not listed


@pytest.mark.parametrize("url", [f"https://user:pw@{HOST}/h", f"https://token@{HOST}/h",
                                 f"https://:pw@{HOST}/h"])
def test_urls_with_credentials_are_refused_and_not_stored(fake_dns, url):
    fake_dns.answers[HOST] = [PUBLIC]
    with pytest.raises(UnsafeTargetUrl, match="credentials"):
        webhook_target_check(url)
    from django.contrib.auth import get_user_model

    client, _ = api_client(user=get_user_model().objects.create_user("staff", is_staff=True))
    response = client.post("/api/v1/webhooks/subscriptions/", {
        "name": "erp", "target_url": url, "event_types": ["package.*"]}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert "target_url" in body["errors"] and "pw@" not in str(body)
    assert not WebhookSubscription.objects.exists()


def _header(request, name):
    return {key.lower(): value for key, value in request["headers"].items()}[name]


def _ship():
    package = make_package(Status.PACKAGING_COMPLETED)
    package_run("ship", package_id=package.pk, actor=Actor("user", "operator"), carrier="C",
                tracking_number="T")


def test_connection_goes_to_the_checked_address_when_dns_answers_differently_later(
        fake_dns, settings, django_capture_on_commit_callbacks):
    """DNS rebinding: the name answers 127.0.0.1 when checked, 127.0.0.2 afterwards; the
    request must reach the first (a second resolution would reach the second)."""
    checked = Receiver()
    try:
        rebound = Receiver(host="127.0.0.2", port=checked.port)
    except OSError:
        checked.close()
        pytest.fail("cannot listen on 127.0.0.2 with the same port")
    try:
        answers = iter([["127.0.0.1"]])
        fake_dns.answers[HOST] = lambda: next(answers, ["127.0.0.2"])
        settings.WEBHOOK_ALLOWED_HOSTS = [f"{HOST}:{checked.port}"]
        subscription = WebhookSubscription.objects.create(
            name="erp", target_url=f"http://{HOST}:{checked.port}/hook", event_types=["package.*"])
        with django_capture_on_commit_callbacks(execute=True):
            _ship()
        assert WebhookDelivery.objects.get(subscription=subscription).status == "delivered"
        assert len(checked.requests) == 1 and rebound.requests == []
        assert _header(checked.requests[0], "host") == f"{HOST}:{checked.port}"
        assert fake_dns.calls == [HOST]  # resolved once, by the check
    finally:
        checked.close()
        rebound.close()


def test_public_checked_address_is_the_one_connected_to(fake_dns, monkeypatch, settings,
                                                        django_capture_on_commit_callbacks):
    """Without an allow-list entry: the check approves the public address it resolved and
    the connection is opened to that address, not to what the name resolves to later."""
    answers = iter([[PUBLIC]])
    fake_dns.answers[HOST] = lambda: next(answers, ["127.0.0.1"])
    receiver = Receiver()
    real_create_connection = urllib3.util.connection.create_connection
    dialled = []

    def create_connection(address, *args, **kwargs):
        dialled.append(address)  # stands for the route to the public address
        return real_create_connection(("127.0.0.1", receiver.port), *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    settings.WEBHOOK_ALLOWED_HOSTS = []
    try:
        webhook_subscription_save(subscription=WebhookSubscription(
            name="erp", target_url=f"http://{HOST}/hook", event_types=["package.*"]))
        answers = iter([[PUBLIC]])  # the save resolved once; the attempt's check resolves again
        with django_capture_on_commit_callbacks(execute=True):
            _ship()
        assert dialled == [(PUBLIC, 80)]
        assert _header(receiver.requests[0], "host") == HOST
        assert WebhookDelivery.objects.get().status == "delivered"
    finally:
        receiver.close()


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_files(tmp_path):
    """A test CA (``ca.pem``) and a server certificate for ``hooks.example.test``
    (``server.pem``, ``server.key``) and one for another name (``other.pem``, ``other.key``)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=OMS test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=tmp_path)
    for name, host in (("server", HOST), ("other", "elsewhere.example.test")):
        (tmp_path / f"{name}.ext").write_text(
            f"subjectAltName=DNS:{host}\nbasicConstraints=CA:FALSE\n"
            "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={host}",
                 cwd=tmp_path)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
                 cwd=tmp_path)
    return tmp_path


@pytest.mark.parametrize("certificate, delivered", [("server", True), ("other", False)])
def test_https_to_the_checked_address_verifies_the_host_name(
        tls_files, certificate, delivered, fake_dns, monkeypatch, settings,
        django_capture_on_commit_callbacks):
    """Pinned to 127.0.0.1, TLS still sends the host name (SNI) and verifies the
    certificate against it: a certificate for another name is refused."""
    import oms.webhooks.delivery as delivery

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files / f"{certificate}.pem", tls_files / f"{certificate}.key")
    server_names = []
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    receiver = Receiver(tls_context=context)
    real_session = delivery.webhook_session

    def session_trusting_the_test_ca(target):
        session = real_session(target)
        session.verify = str(tls_files / "ca.pem")
        return session

    monkeypatch.setattr(delivery, "webhook_session", session_trusting_the_test_ca)
    fake_dns.answers[HOST] = ["127.0.0.1"]
    settings.WEBHOOK_ALLOWED_HOSTS = [f"{HOST}:{receiver.port}"]
    try:
        WebhookSubscription.objects.create(name="erp", target_url=f"https://{HOST}:{receiver.port}/h",
                                           event_types=["package.*"])
        with django_capture_on_commit_callbacks(execute=True):
            _ship()
        delivery_row = WebhookDelivery.objects.get()
        assert server_names == [HOST]
        if delivered:
            assert delivery_row.status == "delivered" and len(receiver.requests) == 1
        else:
            assert delivery_row.status == "pending" and receiver.requests == []
            assert "certificate" in delivery_row.last_error.lower()
    finally:
        receiver.close()
