//! Devices (Graph `device`): a registered or joined machine, its compliance flags as an MDM
//! reports them, and the public key it proves itself with at sign-in (`device_assertion`).

use crate::ids::{ObjectId, TenantId};
use crate::time::Timestamp;

/// A device object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Object id (`id`).
    pub id: ObjectId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// `deviceId`: the id the device itself knows and names in its assertions (unique per
    /// tenant).
    pub device_id: uuid::Uuid,
    /// `displayName`.
    pub display_name: String,
    /// `operatingSystem`.
    pub operating_system: DeviceOs,
    /// `operatingSystemVersion`.
    pub operating_system_version: String,
    /// `trustType`.
    pub trust_type: DeviceTrustType,
    /// `isCompliant` (what an MDM reports).
    pub is_compliant: bool,
    /// `isManaged` (enrolled in an MDM).
    pub is_managed: bool,
    /// `accountEnabled`: a disabled device cannot prove itself.
    pub account_enabled: bool,
    /// The device key's public half: an EC P-256 `SubjectPublicKeyInfo` (DER), from
    /// `alternativeSecurityIds`. `None`: the device cannot prove itself at sign-in.
    pub public_key: Option<Vec<u8>>,
    /// `registrationDateTime`.
    pub created: Timestamp,
    /// `approximateLastSignInDateTime` (kept in its own column, so a sign-in never rewrites
    /// what an administrator changes concurrently).
    pub last_sign_in: Option<Timestamp>,
}

macro_rules! os_enum {
    ($($v:ident => $s:literal, $p:expr;)*) => {
        /// `operatingSystem` values Castellan knows (each maps to a Conditional Access platform).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum DeviceOs {
            $(
                #[doc = $s]
                $v,
            )*
        }
        impl DeviceOs {
            /// Every value.
            pub const ALL: &'static [DeviceOs] = &[$(Self::$v),*];
            /// Graph's spelling.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            /// The Conditional Access platform of this OS.
            pub const fn platform(self) -> DevicePlatform {
                match self { $(Self::$v => $p),* }
            }
        }
    };
}

os_enum! {
    Windows => "Windows", DevicePlatform::Windows;
    MacOs => "MacOS", DevicePlatform::MacOS;
    Ios => "iOS", DevicePlatform::IOS;
    IPadOs => "iPadOS", DevicePlatform::IOS;
    Android => "Android", DevicePlatform::Android;
    Linux => "Linux", DevicePlatform::Linux;
    WindowsPhone => "WindowsPhone", DevicePlatform::WindowsPhone;
}

impl DeviceOs {
    /// Parses Graph's spelling, ignoring case.
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|o| o.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "operatingSystem '{s}' is not supported. Use one of: {}.",
                    Self::ALL
                        .iter()
                        .map(|o| o.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

impl DeviceTrustType {
    /// Parses Graph's spelling, ignoring case.
    pub fn parse(s: &str) -> Result<Self, String> {
        [Self::Workplace, Self::AzureAd, Self::ServerAd]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("trustType '{s}' is not supported. Use Workplace (registered), AzureAd (joined) or ServerAd (hybrid joined).")
            })
    }
}

/// The DER prefix of an EC P-256 `SubjectPublicKeyInfo` (id-ecPublicKey, prime256v1), followed
/// by the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The uncompressed point (`04 || x || y`, 65 bytes) of an EC P-256 `SubjectPublicKeyInfo`;
/// anything else (RSA, other curves, compressed points, trailing bytes) is refused with a
/// message naming the fix.
pub fn p256_point(spki: &[u8]) -> Result<&[u8], String> {
    match spki.strip_prefix(&P256_SPKI_PREFIX[..]) {
        Some(point) if point.len() == 65 && point.first() == Some(&0x04) => Ok(point),
        _ => Err("The device key must be an EC P-256 public key as a DER SubjectPublicKeyInfo (base64 in alternativeSecurityIds[].key, type 2); other key types and curves are not accepted.".into()),
    }
}

/// An EC P-256 `SubjectPublicKeyInfo` (DER) for an uncompressed point.
pub fn p256_spki(point: &[u8]) -> Vec<u8> {
    let mut v = P256_SPKI_PREFIX.to_vec();
    v.extend_from_slice(point);
    v
}

crate::vocab::graph_enum!(
    /// `platforms.includePlatforms[]` / `excludePlatforms[]` values.
    DevicePlatform {
        /// `android`.
        Android => "android",
        /// `iOS`.
        IOS => "iOS",
        /// `windows`.
        Windows => "windows",
        /// `windowsPhone`.
        WindowsPhone => "windowsPhone",
        /// `macOS`.
        MacOS => "macOS",
        /// `linux`.
        Linux => "linux",
        /// `all`: every platform (include only).
        All => "all",
    }
);

/// How a device is joined (Graph `device.trustType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceTrustType {
    /// `Workplace`: Entra registered (personal device).
    Workplace,
    /// `AzureAd`: Entra joined.
    AzureAd,
    /// `ServerAd`: hybrid Entra joined (on-premises domain joined); satisfies
    /// `domainJoinedDevice`.
    ServerAd,
}

impl DeviceTrustType {
    /// Graph's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Workplace => "Workplace",
            Self::AzureAd => "AzureAd",
            Self::ServerAd => "ServerAd",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_and_trust_type_parse_graph_spellings_and_name_the_choices() {
        assert_eq!(DeviceOs::parse("windows"), Ok(DeviceOs::Windows));
        assert_eq!(
            DeviceOs::parse("iPadOS").map(DeviceOs::platform),
            Ok(DevicePlatform::IOS)
        );
        assert!(DeviceOs::parse("BeOS").is_err_and(|e| e.contains("Windows, MacOS")));
        for o in DeviceOs::ALL {
            assert_eq!(DeviceOs::parse(o.as_str()), Ok(*o));
        }
        assert_eq!(
            DeviceTrustType::parse("azuread"),
            Ok(DeviceTrustType::AzureAd)
        );
        assert!(DeviceTrustType::parse("Joined").is_err_and(|e| e.contains("ServerAd")));
    }

    #[test]
    fn only_p256_spki_is_a_device_key() {
        let mut point = vec![4u8];
        point.extend([7u8; 64]);
        let spki = p256_spki(&point);
        assert_eq!(p256_point(&spki), Ok(&point[..]));
        let mut long = spki.clone();
        long.push(0);
        assert!(p256_point(&long).is_err());
        let mut compressed = spki.clone();
        if let Some(b) = compressed.get_mut(26) {
            *b = 2;
        }
        assert!(p256_point(&compressed).is_err());
        assert!(p256_point(&spki[..40]).is_err());
        assert!(p256_point(b"").is_err());
    }
}
