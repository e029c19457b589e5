//! ARM's cloud metadata document, `GET {resourceManager}/metadata/endpoints?api-version=…`:
//! how the Azure CLI (`az cloud register --endpoint-resource-manager`), Terraform
//! (`metadata_host`) and Azure PowerShell (`Add-AzEnvironment -ARMEndpoint`) learn every other
//! endpoint of a cloud from the ARM URL alone (Azure Stack's mechanism).
//!
//! Shapes, as Azure serves them and the clients parse them (azure-cli
//! `azure/cli/core/cloud.py` `_arm_to_cli_mapper`): `2022-09-01` and later is one object with
//! `name`, `resourceManager`, `microsoftGraphResourceId`, `authentication.loginEndpoint`,
//! `authentication.audiences` (the first is the ARM token resource) and `suffixes`;
//! `2019-05-01`/`2020-06-01` are an array of such objects; `2015-01-01` is Azure Stack's older
//! object with `galleryEndpoint`, `graphEndpoint`, `portalEndpoint` and `authentication`.

use serde_json::{json, Value};

/// The cloud's name in the document.
pub const CLOUD_NAME: &str = "Castellan";

/// The endpoints a Castellan server announces.
#[derive(Clone, Debug)]
pub struct CloudEndpoints<'a> {
    /// `https://host:port` (no trailing slash, no `:443`): authority host, ARM, portal.
    pub origin: &'a str,
    /// Microsoft Graph's base URL, e.g. `https://host:port/graph`.
    pub graph_base: &'a str,
}

/// The document for an `api-version`, or `None` when the version is not one Azure serves.
pub fn render(e: &CloudEndpoints<'_>, api_version: &str) -> Option<Value> {
    let origin = e.origin.trim_end_matches('/');
    let graph = format!("{}/", e.graph_base.trim_end_matches('/'));
    let authentication = json!({
        "loginEndpoint": origin,
        // The first audience is the ARM token resource the CLI asks for
        // (`activeDirectoryResourceId`); both are accepted identifiers of ARM here.
        "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
        "tenant": "common",
        "identityProvider": "AAD",
    });
    let current = || {
        json!({
            "name": CLOUD_NAME,
            "portal": origin,
            "resourceManager": format!("{origin}/"),
            "authentication": authentication,
            "microsoftGraphResourceId": graph,
            "graph": graph,
            "graphAudience": graph,
            "suffixes": {},
        })
    };
    match api_version {
        "2015-01-01" => Some(json!({
            "galleryEndpoint": format!("{origin}/"),
            "graphEndpoint": graph,
            "portalEndpoint": format!("{origin}/"),
            "authentication": {
                "loginEndpoint": format!("{origin}/"),
                "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
            },
        })),
        "2019-05-01" | "2020-06-01" => Some(json!([current()])),
        "2022-09-01" => Some(current()),
        _ => None,
    }
}

/// The api-versions [`render`] knows, for the error message.
pub const API_VERSIONS: &[&str] = &["2015-01-01", "2019-05-01", "2020-06-01", "2022-09-01"];

#[cfg(test)]
mod tests {
    use super::*;

    const E: CloudEndpoints<'static> = CloudEndpoints {
        origin: "https://127.0.0.1:8443",
        graph_base: "https://127.0.0.1:8443/graph",
    };

    #[test]
    fn current_shape_is_what_the_azure_cli_maps() {
        let v = render(&E, "2022-09-01").unwrap();
        assert_eq!(v["name"], "Castellan");
        assert_eq!(v["resourceManager"], "https://127.0.0.1:8443/");
        assert_eq!(
            v["microsoftGraphResourceId"],
            "https://127.0.0.1:8443/graph/"
        );
        assert_eq!(
            v["authentication"]["loginEndpoint"],
            "https://127.0.0.1:8443"
        );
        assert_eq!(
            v["authentication"]["audiences"][0],
            "https://management.core.windows.net/"
        );
        assert!(v["suffixes"].is_object());
    }

    #[test]
    fn older_shapes() {
        let v = render(&E, "2019-05-01").unwrap();
        assert_eq!(v[0]["resourceManager"], "https://127.0.0.1:8443/");
        let v = render(&E, "2015-01-01").unwrap();
        assert_eq!(v["graphEndpoint"], "https://127.0.0.1:8443/graph/");
        assert_eq!(
            v["authentication"]["loginEndpoint"],
            "https://127.0.0.1:8443/"
        );
        assert!(render(&E, "2099-01-01").is_none());
    }
}
