"""Which social insurance agency serves a region, and how an enterprise reaches it.

A prompt is only useful if it tells the enterprise where to go, so every region must resolve to
*some* contact: the most specific configured one (district, then city, then province, matched
by region-code prefix), else the national hotline and platform. The contacts are configuration
supplied by the caller; :data:`DEFAULT_AGENCIES` is a starting point for Baoji, Shaanxi, where
the project began.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pensionx.core.outputs import ServiceAgency

_PREFIX = re.compile(r"[0-9]{2}(?:[0-9]{2}(?:[0-9]{2})?)?")


@dataclass(frozen=True, kw_only=True)
class AgencyContact:
    """An agency's contact details in the form the letters need (names in both languages).

    The address stays in Chinese in both letters: it is what a visitor types into a map.
    """

    name: str
    name_en: str
    address: str
    phone: str
    online_platform: str
    online_platform_en: str

    def as_service_agency(self) -> ServiceAgency:
        """The contact as the prompt record carries it."""
        return ServiceAgency(
            name=self.name,
            address=self.address,
            phone=self.phone,
            online_platform=self.online_platform,
        )


NATIONAL_FALLBACK = AgencyContact(
    name="当地社会保险经办机构",
    name_en="the social insurance agency where the enterprise is registered",
    address="经办网点地址请拨打 12333 查询",
    phone="12333",
    online_platform="国家社会保险公共服务平台（si.12333.gov.cn）",
    online_platform_en="National Social Insurance Public Service Platform (si.12333.gov.cn)",
)
"""Used for a region with no configured agency: still a letter the enterprise can act on."""

_SHAANXI_PLATFORM = "陕西省城镇职工养老保险网上服务平台"
_SHAANXI_PLATFORM_EN = "Shaanxi Urban Employee Pension Insurance Online Service Platform"

# ILLUSTRATIVE DEFAULTS: names follow the agencies' usual naming, but the addresses and phone
# numbers are placeholders in a plausible form (Baoji's area code 0917 + the 12333 hotline).
# Replace them through configuration (AgencyDirectory.from_config) before any letter is sent.
DEFAULT_AGENCIES: Mapping[str, AgencyContact] = {
    "610302": AgencyContact(
        name="宝鸡市渭滨区社会保险经办中心",
        name_en="Social Insurance Service Centre of Weibin District, Baoji",
        address="陕西省宝鸡市渭滨区经二路政务服务中心社保窗口",
        phone="0917-12333",
        online_platform=_SHAANXI_PLATFORM,
        online_platform_en=_SHAANXI_PLATFORM_EN,
    ),
    "610303": AgencyContact(
        name="宝鸡市金台区社会保险经办中心",
        name_en="Social Insurance Service Centre of Jintai District, Baoji",
        address="陕西省宝鸡市金台区金台大道政务服务中心社保窗口",
        phone="0917-12333",
        online_platform=_SHAANXI_PLATFORM,
        online_platform_en=_SHAANXI_PLATFORM_EN,
    ),
    "610304": AgencyContact(
        name="宝鸡市陈仓区社会保险经办中心",
        name_en="Social Insurance Service Centre of Chencang District, Baoji",
        address="陕西省宝鸡市陈仓区虢镇政务服务中心社保窗口",
        phone="0917-12333",
        online_platform=_SHAANXI_PLATFORM,
        online_platform_en=_SHAANXI_PLATFORM_EN,
    ),
    "6103": AgencyContact(
        name="宝鸡市养老保险经办处",
        name_en="Baoji Municipal Pension Insurance Service Office",
        address="陕西省宝鸡市市民服务中心社保窗口",
        phone="0917-12333",
        online_platform=_SHAANXI_PLATFORM,
        online_platform_en=_SHAANXI_PLATFORM_EN,
    ),
    "61": AgencyContact(
        name="陕西省社会保险经办机构（请就近选择市、区县经办网点）",
        name_en="Shaanxi social insurance agencies (choose the nearest city or county office)",
        address="请拨打 12333 查询就近经办网点",
        phone="12333",
        online_platform=_SHAANXI_PLATFORM,
        online_platform_en=_SHAANXI_PLATFORM_EN,
    ),
}


class AgencyDirectory:
    """Region code -> the agency serving it, by the longest configured prefix (6, 4, 2 digits)."""

    def __init__(
        self,
        agencies: Mapping[str, AgencyContact],
        fallback: AgencyContact = NATIONAL_FALLBACK,
    ) -> None:
        for prefix in agencies:
            if not _PREFIX.fullmatch(prefix):
                raise ValueError(f"agency key {prefix!r} is not a 2-, 4- or 6-digit region prefix")
        self._agencies = dict(agencies)
        self.fallback = fallback

    @classmethod
    def from_config(
        cls, data: Mapping[str, Mapping[str, str]], fallback: Mapping[str, str] | None = None
    ) -> AgencyDirectory:
        """A directory from plain configuration: ``{"610302": {"name": ..., ...}, ...}``.

        Each entry needs every :class:`AgencyContact` field; a missing one raises ``TypeError``
        at start-up rather than producing a letter with a blank address later.
        """
        agencies = {prefix: AgencyContact(**entry) for prefix, entry in data.items()}
        if fallback is None:
            return cls(agencies)
        return cls(agencies, AgencyContact(**fallback))

    def lookup(self, region_code: str | None) -> AgencyContact:
        """The agency for ``region_code``: district, else city, else province, else national."""
        if region_code:
            for length in (6, 4, 2):
                contact = self._agencies.get(region_code[:length])
                if contact is not None:
                    return contact
        return self.fallback


def default_directory() -> AgencyDirectory:
    """The directory of :data:`DEFAULT_AGENCIES` (illustrative contacts, see the comment there)."""
    return AgencyDirectory(DEFAULT_AGENCIES)
