"""Reference data for synthetic records: real districts, common names, plausible firm names.

Realism matters for the exchange's tests: region codes must be real administrative divisions
(the first two digits pick the province whose contribution floor applies), names must be the
Chinese names clerks actually type (two or three characters, common surnames), and enterprise
names must read like a business licence so a letter rendered from them can be eyeballed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Region:
    """A county-level division: its code, the city and district names, the phone area code."""

    code: str
    city: str
    district: str
    area_code: str
    weight: int

    @property
    def province(self) -> str:
        """The province part of the code (``61`` is Shaanxi)."""
        return self.code[:2]

    @property
    def place(self) -> str:
        """How an address or enterprise name starts, e.g. 宝鸡市渭滨区."""
        return f"{self.city}{self.district}"


# Baoji (the article's city) and Xi'an dominate; a few other provinces so that cross-province
# employers, and regions with no configured floor, occur. 610322 is the code of the former
# 凤翔县, still printed on licences issued before it became 凤翔区 (610305) in 2021.
REGIONS: tuple[Region, ...] = (
    Region("610302", "宝鸡市", "渭滨区", "0917", 14),
    Region("610303", "宝鸡市", "金台区", "0917", 12),
    Region("610304", "宝鸡市", "陈仓区", "0917", 9),
    Region("610305", "宝鸡市", "凤翔区", "0917", 4),
    Region("610322", "宝鸡市", "凤翔县", "0917", 2),
    Region("610323", "宝鸡市", "岐山县", "0917", 4),
    Region("610324", "宝鸡市", "扶风县", "0917", 3),
    Region("610326", "宝鸡市", "眉县", "0917", 3),
    Region("610102", "西安市", "新城区", "029", 6),
    Region("610103", "西安市", "碑林区", "029", 6),
    Region("610104", "西安市", "莲湖区", "029", 6),
    Region("610112", "西安市", "未央区", "029", 7),
    Region("610113", "西安市", "雁塔区", "029", 9),
    Region("610116", "西安市", "长安区", "029", 5),
    Region("610402", "咸阳市", "秦都区", "029", 3),
    Region("110105", "北京市", "朝阳区", "010", 1),
    Region("310115", "上海市", "浦东新区", "021", 1),
    Region("440305", "深圳市", "南山区", "0755", 1),
    Region("620102", "兰州市", "城关区", "0931", 1),
    Region("510107", "成都市", "武侯区", "028", 1),
)
REGION_BY_CODE = {region.code: region for region in REGIONS}
SHAANXI = tuple(region for region in REGIONS if region.province == "61")
_REGION_WEIGHTS = tuple(region.weight for region in REGIONS)
_SHAANXI_WEIGHTS = tuple(region.weight for region in SHAANXI)


def pick_region(rng: random.Random, *, shaanxi_only: bool = False) -> Region:
    """A region, weighted towards Baoji and Xi'an."""
    if shaanxi_only:
        return rng.choices(SHAANXI, _SHAANXI_WEIGHTS)[0]
    return rng.choices(REGIONS, _REGION_WEIGHTS)[0]


# The hundred most common surnames, most frequent first (picking favours the front).
SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢"
    "蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟"
    "龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
_MALE_GIVEN = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宁建国峰亮成龙浩宇俊凯东文博志帆林晨阳永健"
_FEMALE_GIVEN = "芳娜敏静丽艳娟霞燕玲桂英红梅琳婷雪慧倩洁萍丹颖璐欣悦佳怡蕾瑶琴云秀兰"
# Same-sounding characters: a clerk typing by pinyin picks the wrong one (王建华 -> 王建化).
HOMOPHONES = dict(
    zip(
        "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宁建国峰亮成龙浩宇俊凯东文博志帆林晨阳永健"
        "芳娜敏静丽艳娟霞燕玲桂英红梅琳婷雪慧倩洁萍丹颖璐欣悦佳怡蕾瑶琴云秀兰",
        "玮蔷垒君永洁韬彬潮铭钢萍晖朋化菲新博凝健帼锋靓诚隆皓雨骏楷冬雯波智凡琳辰杨勇建"
        "方纳民晶莉燕涓侠艳铃贵瑛宏玫林亭薛惠茜杰平单影露馨月嘉宜雷遥芹芸绣岚",
        strict=True,
    )
)


def chinese_name(rng: random.Random, male: bool) -> str:
    """A surname (common ones more often) and a one- or two-character given name."""
    surname = SURNAMES[int(len(SURNAMES) * rng.random() ** 2.2)]
    pool = _MALE_GIVEN if male else _FEMALE_GIVEN
    given = rng.choice(pool)
    if rng.random() < 0.7:
        given += rng.choice(pool)
    return surname + given


def misspelled(name: str) -> str:
    """``name`` with its last given-name character swapped for a homophone."""
    return name[:-1] + HOMOPHONES[name[-1]]


_BRANDS = (
    "秦川",
    "宝光",
    "渭河",
    "金台",
    "长青",
    "鑫源",
    "华泰",
    "恒通",
    "宏达",
    "金鼎",
    "瑞丰",
    "兴盛",
    "博远",
    "天成",
    "永信",
    "德润",
    "昌盛",
    "嘉禾",
    "汇通",
    "三秦",
    "周原",
    "西岐",
    "凤鸣",
    "秦岭",
    "亿达",
    "盛世",
    "众诚",
    "新锐",
    "明达",
    "广源",
    "百川",
    "钛谷",
    "陈仓",
    "太白",
    "金渭",
    "岐丰",
)
# Business line, its GB/T 4754-2017 division, and a typical registered business scope.
INDUSTRIES = (
    ("商贸", "F51", "一般项目：日用百货、五金产品批发"),
    ("机械制造", "C34", "一般项目：通用设备制造；机械零件加工"),
    ("建筑工程", "E48", "建设工程施工；土石方工程施工"),
    ("餐饮管理", "H62", "餐饮服务；餐饮管理"),
    ("物流", "G54", "道路货物运输；普通货物仓储服务"),
    ("科技", "I65", "软件开发；信息技术咨询服务"),
    ("电子", "C39", "电子元器件制造；电子产品销售"),
    ("农业开发", "A01", "谷物种植；蔬菜种植；农产品销售"),
    ("食品", "C14", "食品生产；食品销售"),
    ("汽车配件", "C36", "汽车零部件及配件制造"),
    ("钛业", "C33", "有色金属压延加工；钛材销售"),
    ("物业管理", "K70", "物业管理；家政服务"),
    ("劳务服务", "L72", "劳务服务；人力资源服务"),
)
_SUFFIXES = ("有限公司", "有限公司", "有限公司", "有限责任公司", "股份有限公司")
_ROADS = (
    "经二路",
    "经一路",
    "宝光路",
    "红旗路",
    "中山东路",
    "金台大道",
    "陈仓大道",
    "高新大道",
    "清姜路",
    "新建路",
    "渭滨大道",
    "人民路",
    "公园路",
    "火炬路",
    "长安路",
    "太白南路",
    "友谊东路",
    "科技路",
    "东大街",
    "西大街",
    "北大街",
    "文化路",
    "建设路",
    "团结路",
)


def enterprise_name(rng: random.Random, region: Region, industry: str) -> str:
    """A name as on a business licence, e.g. 宝鸡市渭滨区鑫源商贸有限公司."""
    return f"{region.place}{rng.choice(_BRANDS)}{industry}{rng.choice(_SUFFIXES)}"


def address(rng: random.Random, region: Region) -> str:
    """A street address in ``region``."""
    return f"{region.place}{rng.choice(_ROADS)}{rng.randint(1, 399)}号"


def phone(rng: random.Random, region: Region) -> str:
    """A mainland mobile number, or a landline with the region's area code."""
    if rng.random() < 0.7:
        return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
    digits = 8 if len(region.area_code) == 3 else 7
    first = rng.randint(2, 8)
    return f"{region.area_code}-{first}{rng.randrange(10 ** (digits - 1)):0{digits - 1}d}"
