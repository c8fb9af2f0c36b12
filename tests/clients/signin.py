#!/usr/bin/env python3
"""Sign in to `bulkops emulate --tls` with Microsoft's own Python libraries.

(a) msal ConfidentialClientApplication.acquire_token_for_client
(b) azure-identity ClientSecretCredential.get_token
(c) msgraph-sdk GraphServiceClient: list /v1.0/groups (following @odata.nextLink)

Every setting can come from a flag or an environment variable:
  --base-url   EMU_BASE_URL   e.g. https://localhost:8443   (authority host, no tenant)
  --graph-url  EMU_GRAPH_URL  default: <base-url>/v1.0
  --tenant     EMU_TENANT
  --client-id  EMU_CLIENT_ID
  --secret     EMU_CLIENT_SECRET
  --ca         EMU_CA_FILE     PEM CA bundle that signed the server certificate
  --expect-groups EMU_EXPECT_GROUPS  optional comma list of displayNames that must be present
  --check-bad-secret           also check that a wrong secret is rejected by (a) and (b)
Exit status: 0 = all passed, 1 = a check failed, 2 = usage error.
"""
import argparse, asyncio, base64, json, os, ssl, sys, time

SCOPE = "https://graph.microsoft.com/.default"


def fail(step, msg):
    print(f"FAIL [{step}]: {msg}", file=sys.stderr)
    sys.exit(1)


def decode_jwt(token):
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError(f"access_token is not a JWT ({len(parts)} dot-separated parts)")
    pad = "=" * (-len(parts[1]) % 4)
    return json.loads(base64.urlsafe_b64decode(parts[1] + pad))


def parse_args():
    e = os.environ.get
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", default=e("EMU_BASE_URL"))
    p.add_argument("--graph-url", default=e("EMU_GRAPH_URL"))
    p.add_argument("--tenant", default=e("EMU_TENANT"))
    p.add_argument("--client-id", default=e("EMU_CLIENT_ID"))
    p.add_argument("--secret", default=e("EMU_CLIENT_SECRET"))
    p.add_argument("--ca", default=e("EMU_CA_FILE"))
    p.add_argument("--expect-groups", default=e("EMU_EXPECT_GROUPS", ""))
    p.add_argument("--check-bad-secret", action="store_true")
    a = p.parse_args()
    missing = [n for n in ("base_url", "tenant", "client_id", "secret", "ca") if not getattr(a, n)]
    if missing:
        p.error("missing: " + ", ".join("--" + m.replace("_", "-") for m in missing))
    if not os.path.isfile(a.ca):
        p.error(f"CA file not found: {a.ca}")
    a.base_url = a.base_url.rstrip("/")            # msal/azure-identity: no trailing slash
    a.graph_url = (a.graph_url or a.base_url + "/v1.0").rstrip("/")  # kiota: "<base>/groups"
    if not a.base_url.startswith("https://"):
        p.error("--base-url must be https:// (msal and azure-identity refuse anything else)")
    # Belt and braces for code paths that read trust settings from the environment:
    # requests (msal, azure-core) reads REQUESTS_CA_BUNDLE, httpx reads SSL_CERT_FILE.
    os.environ["REQUESTS_CA_BUNDLE"] = a.ca
    os.environ["SSL_CERT_FILE"] = a.ca
    return a


def step_msal(a):
    import msal
    app = msal.ConfidentialClientApplication(
        a.client_id, client_credential=a.secret,
        authority=f"{a.base_url}/{a.tenant}",       # must have a tenant path segment
        instance_discovery=False,                   # else GET login.microsoftonline.com/common/discovery/instance
        verify=a.ca)
    r = app.acquire_token_for_client(scopes=[SCOPE])
    if "access_token" not in r:                     # msal returns errors, it does not raise
        fail("msal", f"{r.get('error')}: {r.get('error_description')}")
    try:
        claims = decode_jwt(r["access_token"])
    except Exception as ex:
        fail("msal", f"cannot decode access token: {ex}")
    print(f"[msal {msal.__version__}] token_type={r.get('token_type')} expires_in={r.get('expires_in')}")
    print("[msal] claims:", json.dumps(claims, sort_keys=True))
    if "exp" in claims and int(claims["exp"]) <= time.time():
        fail("msal", f"token already expired (exp={claims['exp']})")
    check_claims(a, r["access_token"], claims)
    if a.check_bad_secret:
        bad = msal.ConfidentialClientApplication(
            a.client_id, client_credential=a.secret + "-wrong", authority=f"{a.base_url}/{a.tenant}",
            instance_discovery=False, verify=a.ca).acquire_token_for_client(scopes=[SCOPE])
        if "access_token" in bad:
            fail("msal", "a wrong client secret was accepted")
        print(f"[msal] wrong secret rejected: {bad.get('error')}")


def check_claims(a, token, claims):
    """The token is an app-only Graph token signed with a key the emulator publishes."""
    import re
    import jwt
    import requests
    guid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    if not guid.match(str(claims.get("tid", ""))):
        fail("msal", f"tid claim {claims.get('tid')!r} is not a tenant id")
    if claims.get("appid") != a.client_id:
        fail("msal", f"appid claim {claims.get('appid')!r} != client id {a.client_id!r}")
    if "GroupMember.ReadWrite.All" not in claims.get("roles", []):
        fail("msal", f"roles claim {claims.get('roles')!r} lacks GroupMember.ReadWrite.All")
    config = requests.get(f"{a.base_url}/{a.tenant}/v2.0/.well-known/openid-configuration", verify=a.ca).json()
    keys = requests.get(config["jwks_uri"], verify=a.ca).json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next((key for key in keys if key["kid"] == kid), None)
    if jwk is None:
        fail("msal", f"the token's key {kid!r} is not in {config['jwks_uri']}")
    key = jwt.PyJWK(jwk).key
    try:
        jwt.decode(token, key, algorithms=[jwk["alg"]], audience="https://graph.microsoft.com")
    except jwt.PyJWTError as ex:
        fail("msal", f"the token does not verify with the published key: {ex}")
    print(f"[msal] token signed with published key {kid} ({jwk['alg']}), tid {claims['tid']}")


def make_credential(a, secret):
    from azure.identity import ClientSecretCredential
    return ClientSecretCredential(
        a.tenant, a.client_id, secret,
        authority=a.base_url,                       # "https://host:port"; a bare "host:port" is rejected
        disable_instance_discovery=True,
        connection_verify=a.ca)                     # azure-core RequestsTransport


def step_azure_identity(a):
    import azure.identity
    from azure.core.exceptions import ClientAuthenticationError
    cred = make_credential(a, a.secret)
    try:
        t = cred.get_token(SCOPE)
    except ClientAuthenticationError as ex:
        fail("azure-identity", ex.message)
    if not t.token or t.expires_on <= time.time():
        fail("azure-identity", f"bad token (expires_on={t.expires_on})")
    print(f"[azure-identity {azure.identity.__version__}] token ok, expires in {t.expires_on - int(time.time())}s")
    if a.check_bad_secret:
        try:
            make_credential(a, a.secret + "-wrong").get_token(SCOPE)
            fail("azure-identity", "a wrong client secret was accepted")
        except ClientAuthenticationError as ex:
            print(f"[azure-identity] wrong secret rejected: {ex.message.splitlines()[0]}")
    return cred


async def step_graph(a, cred):
    import httpx
    from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
    from msgraph import GraphServiceClient, GraphRequestAdapter
    from msgraph.graph_request_adapter import options as graph_options
    from msgraph_core import GraphClientFactory
    from msgraph._version import VERSION
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    http = httpx.AsyncClient(
        base_url=a.graph_url,
        verify=ssl.create_default_context(cafile=a.ca),
        timeout=httpx.Timeout(30, connect=10),
        http2=True)                                 # same as kiota's default client
    http = GraphClientFactory.create_with_default_middleware(client=http, options=graph_options)
    # scopes must be explicit: the default is derived from the request host ("https://localhost/.default")
    auth = AzureIdentityAuthenticationProvider(cred, scopes=[SCOPE])
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = a.graph_url
    client = GraphServiceClient(request_adapter=adapter)

    names, pages = [], 0
    try:
        page = await client.groups.get()
        while True:
            pages += 1
            names += [g.display_name for g in (page.value or [])]
            if not page.odata_next_link or pages >= 100:
                break
            page = await client.groups.with_url(page.odata_next_link).get()
    except ODataError as ex:
        err = ex.error
        fail("msgraph-sdk", f"HTTP {ex.response_status_code}: {err.code if err else ''} {err.message if err else ex}")
    finally:
        await http.aclose()
    print(f"[msgraph-sdk {VERSION}] {len(names)} groups in {pages} page(s):")
    for n in names:
        print("   ", n)
    if not names:
        fail("msgraph-sdk", "no groups returned")
    if any(n is None for n in names):
        fail("msgraph-sdk", "a group has no displayName")
    want = [w for w in a.expect_groups.split(",") if w]
    missing = [w for w in want if w not in names]
    if missing:
        fail("msgraph-sdk", f"expected groups missing: {missing}")


def run(step, fn):
    try:
        return fn()
    except SystemExit:
        raise
    except Exception as ex:  # TLS/connection errors, malformed discovery documents, ...
        fail(step, f"{type(ex).__name__}: {str(ex) or repr(ex)}")


def main():
    a = parse_args()
    run("msal", lambda: step_msal(a))
    cred = run("azure-identity", lambda: step_azure_identity(a))
    run("msgraph-sdk", lambda: asyncio.run(step_graph(a, cred)))
    print("PASS: msal, azure-identity and msgraph-sdk all signed in and listed groups")


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as ex:
        fail("unexpected", f"{type(ex).__name__}: {ex}")
