"""Customers who write the sample feedback, and the ways they write their contact details.

Ordinary customers come from Faker (seeded per instance, so a seed always yields the
same people); VIP and enterprise customers are a fixed list so that a VIP register
or a demo configuration can name them. All data is invented.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from faker import Faker

_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_MOBILE_PREFIXES = ("133", "135", "136", "137", "138", "139", "150", "151", "152", "158", "159",
                    "170", "176", "177", "180", "181", "186", "187", "188", "189", "191", "199")
_ZH_MAIL_DOMAINS = ("qq.com", "163.com", "126.com", "foxmail.com", "sina.com", "139.com", "gmail.com")
_EN_MAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com")
_AREA_CODES = ("010", "021", "020", "0755", "0571", "028", "027", "025")
_ID_AREAS = ("110101", "110105", "310104", "310115", "440305", "440106", "330106", "510107", "420106")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_NICK_HEADS = ("快乐的", "安静的", "爱吃鱼的", "不睡觉的", "路过的", "认真的", "迷路的", "早起的")
_NICK_TAILS = ("小猫", "橙子", "程序员", "宝妈", "学生党", "打工人", "老张", "咸鱼")


@dataclass(frozen=True)
class Customer:
    """A person (or an enterprise's contact person) who sends feedback.

    ``mobile`` is kept canonical (11 digits, or an international number for some
    English speakers); how it is written in a message is chosen per message.
    """

    ref: str
    name: str
    language: str
    mobile: str
    email: str
    is_vip: bool = False
    company: str = ""
    nickname: str = ""


def _c(ref: str, name: str, mobile: str, email: str, *, lang: str = "zh", vip: bool = True,
       company: str = "") -> Customer:
    return Customer(ref=ref, name=name, language=lang, mobile=mobile, email=email, is_vip=vip,
                    company=company, nickname=name)


# Fixed, invented VIP customers (客户等级 VIP): the same for every seed so configuration can list them.
VIP_CUSTOMERS: tuple[Customer, ...] = (
    _c("vip-01", "王建国", "13901010101", "wangjianguo@163.com"),
    _c("vip-02", "李秀英", "13802020202", "lixiuying88@qq.com"),
    _c("vip-03", "张伟", "13703030303", "zhangwei.vip@126.com"),
    _c("vip-04", "刘洋", "15904040404", "liuyang2020@foxmail.com"),
    _c("vip-05", "陈静", "18605050505", "chenjing@sina.com"),
    _c("vip-06", "杨帆", "18806060606", "yangfan_sh@163.com"),
    _c("vip-07", "赵丽华", "13607070707", "781234567@qq.com"),
    _c("vip-08", "黄志强", "15108080808", "huangzq@139.com"),
    _c("vip-09", "周晓梅", "17709090909", "zhouxiaomei@qq.com"),
    _c("vip-10", "吴磊", "19910101010", "wulei.bj@gmail.com"),
    _c("vip-11", "Emily Carter", "+1 415-555-0142", "emily.carter@gmail.com", lang="en"),
    _c("vip-12", "Daniel Wright", "13511121112", "daniel.wright@outlook.com", lang="en"),
)

# Enterprise customers (企业客户): their batch complaints are an urgent trigger.
ENTERPRISE_CUSTOMERS: tuple[Customer, ...] = (
    _c("ent-01", "孙经理", "13913141314", "sun.manager@huaxin-tech.example.cn", company="华信科技有限公司"),
    _c("ent-02", "马丽", "13615161516", "mali@jinhe-logistics.example.cn", vip=False,
       company="金禾物流股份有限公司"),
    _c("ent-03", "郑涛", "18117181718", "zhengtao@yuanda-edu.example.cn", company="远大教育集团"),
    _c("ent-04", "何敏", "15819201920", "hemin@lvyuan-hotel.example.cn", vip=False,
       company="绿源酒店管理有限公司"),
    _c("ent-05", "Grace Lin", "13721222122", "grace.lin@harbor-retail.example.com", lang="en",
       company="Harbor Retail Ltd."),
)


def id_checksum(first17: str) -> str:
    """GB 11643 check character, so planted ID numbers look valid to a real validator."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def make_id_number(rng: random.Random) -> str:
    """An 18-digit resident ID number (居民身份证号) with a valid date and checksum."""
    year = rng.randint(1960, 2004)
    month = rng.randint(1, 12)
    day = rng.randint(1, 28)
    first17 = f"{rng.choice(_ID_AREAS)}{year:04d}{month:02d}{day:02d}{rng.randint(0, 999):03d}"
    return first17 + id_checksum(first17)


def make_mobile(rng: random.Random) -> str:
    """A mainland mobile number in canonical 11-digit form."""
    return rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def make_landline(rng: random.Random) -> str:
    """A landline written the two common ways: ``010-87654321`` or ``(0571)88886666``."""
    area = rng.choice(_AREA_CODES)
    number = f"{rng.randint(2, 8)}{rng.randrange(10**7):07d}"
    return f"({area}){number}" if rng.random() < 0.4 else f"{area}-{number}"


def write_mobile(rng: random.Random, mobile: str) -> str:
    """Write a mobile number the way customers do, so detectors meet every real variant."""
    if not (len(mobile) == 11 and mobile.isdigit()):
        return mobile  # international numbers are written as stored
    a, b, c = mobile[:3], mobile[3:7], mobile[7:]
    style = rng.random()
    if style < 0.45:
        return mobile
    if style < 0.60:
        return f"{a} {b} {c}"
    if style < 0.72:
        return f"{a}-{b}-{c}"
    if style < 0.82:
        return f"+86 {a} {b} {c}"
    if style < 0.90:
        return f"0086-{mobile}"
    if style < 0.95:
        return f"+86{mobile}"
    return mobile.translate(_FULLWIDTH)


def mask_mobile(mobile: str) -> str:
    """The platform-side mask ``138****5678`` (first 3 + last 4 digits)."""
    digits = "".join(ch for ch in mobile if ch.isdigit())[-11:]
    return f"{digits[:3]}****{digits[-4:]}"


def nickname(rng: random.Random) -> str:
    """A platform nickname: not a real name, so not treated as personal data here."""
    if rng.random() < 0.5:
        return rng.choice(_NICK_HEADS) + rng.choice(_NICK_TAILS)
    return f"用户{rng.randrange(10**6, 10**7)}"


class People:
    """A seeded pool of ordinary customers plus the fixed VIP and enterprise ones.

    A pool (rather than a new person per item) makes repeat customers and repeat
    complaints (重复投诉) occur naturally, and keeps Faker off the hot path.
    """

    def __init__(self, seed: int, volume: int) -> None:
        rng = random.Random(f"feedback.sample.people:{seed}")
        zh_size = min(max(volume // 3, 30), 6000)
        en_size = max(zh_size // 5, 10)
        zh_fake = Faker("zh_CN")
        zh_fake.seed_instance(seed)
        en_fake = Faker("en_US")
        en_fake.seed_instance(seed)
        self.zh = [self._zh_customer(zh_fake, rng, i) for i in range(zh_size)]
        self.en = [self._en_customer(en_fake, rng, i) for i in range(en_size)]
        self.vip_zh = [c for c in VIP_CUSTOMERS if c.language == "zh"]
        self.vip_en = [c for c in VIP_CUSTOMERS if c.language == "en"]

    @staticmethod
    def _zh_customer(fake: Faker, rng: random.Random, i: int) -> Customer:
        name = fake.name()
        mobile = make_mobile(rng)
        style = rng.random()
        if style < 0.3:
            email = f"{rng.randrange(10**5, 10**10)}@qq.com"
        elif style < 0.38:
            email = f"{mobile}@163.com"
        else:
            local = (fake.last_romanized_name() + fake.first_romanized_name()).lower()
            if rng.random() < 0.5:
                local += str(rng.randint(1, 999))
            email = f"{local}@{rng.choice(_ZH_MAIL_DOMAINS)}"
        return Customer(ref=f"zh-{i:05d}", name=name, language="zh", mobile=mobile, email=email,
                        nickname=nickname(rng))

    @staticmethod
    def _en_customer(fake: Faker, rng: random.Random, i: int) -> Customer:
        first, last = fake.first_name(), fake.last_name()
        sep = rng.choice((".", "_", ""))
        email = f"{first}{sep}{last}{rng.choice(('', str(rng.randint(1, 99))))}".lower()
        email += "@" + rng.choice(_EN_MAIL_DOMAINS)
        if rng.random() < 0.6:
            mobile = make_mobile(rng)  # expats and travellers often have a Chinese number
        else:
            mobile = f"+1 {rng.choice(('212', '415', '646', '312'))}-555-01{rng.randrange(100):02d}"
        return Customer(ref=f"en-{i:05d}", name=f"{first} {last}", language="en", mobile=mobile,
                        email=email, nickname=fake.user_name())

    def pick(self, rng: random.Random, language: str, *, vip_rate: float = 0.10,
             enterprise_rate: float = 0.02) -> Customer:
        """Choose who writes the next message, with VIPs and enterprises at the given rates."""
        roll = rng.random()
        if roll < enterprise_rate:
            pool = [c for c in ENTERPRISE_CUSTOMERS if c.language == language] or list(ENTERPRISE_CUSTOMERS)
            return rng.choice(pool)
        if roll < enterprise_rate + vip_rate:
            return rng.choice(self.vip_zh if language == "zh" else self.vip_en)
        return rng.choice(self.zh if language == "zh" else self.en)
