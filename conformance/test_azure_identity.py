"""azure-identity's ClientSecretCredential against Castellan."""
import jwt
from azure.identity import ClientSecretCredential


def test_client_secret_credential_gets_graph_token(demo):
    cred = ClientSecretCredential(
        demo["tenant_id"],
        demo["confidential_client"]["app_id"],
        demo["confidential_client"]["secret"],
        authority=demo["origin"],
        disable_instance_discovery=True,
    )
    tok = cred.get_token("https://graph.microsoft.com/.default")
    claims = jwt.decode(tok.token, options={"verify_signature": False})
    assert claims["tid"] == demo["tenant_id"]
    assert claims["aud"] == "00000003-0000-0000-c000-000000000000"
    assert tok.expires_on > 0
