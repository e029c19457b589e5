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
    # Graph takes v1 tokens (as from Entra): aud is the resource URI requested.
    assert claims["aud"] == "https://graph.microsoft.com" and claims["ver"] == "1.0"
    assert tok.expires_on > 0
