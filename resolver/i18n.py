"""Words on the consumer pages, in Vietnamese, English and Chinese, and how the language is chosen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

LANGUAGES = ("vi", "en", "zh")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English", "zh": "中文"}

MESSAGES: dict[str, dict[str, str]] = {
    "site": {"vi": "Tem truy xuất nguồn gốc", "en": "Traceability stamp", "zh": "溯源标签"},
    "genuine": {"vi": "Hàng thật", "en": "Genuine", "zh": "正品"},
    "suspect": {"vi": "Nghi ngờ", "en": "Suspect", "zh": "可疑"},
    "counterfeit": {"vi": "Hàng giả", "en": "Counterfeit", "zh": "假冒"},
    "unknown": {"vi": "Chưa rõ", "en": "Unknown", "zh": "未知"},
    "first_check": {
        "vi": "Lần kiểm tra đầu tiên, lúc {when}.",
        "en": "First check, at {when}.",
        "zh": "首次查询，时间 {when}。",
    },
    "checked_before_same_device": {
        "vi": "Bạn đã kiểm tra mã này {n} lần, lần đầu lúc {when}.",
        "en": "You have checked this code {n} times, first at {when}.",
        "zh": "您已查询此码{n}次，首次查询时间 {when}。",
    },
    "checked_many": {
        "vi": "Mã này đã được kiểm tra {n} lần, lần đầu lúc {when} tại {place}. Nếu đó không phải bạn, hãy cẩn thận.",
        "en": "This code has been checked {n} times, first on {when} in {place}. If that was not you, beware.",
        "zh": "此码已被查询{n}次，首次查询时间 {when}，地点 {place}。如非本人查询，谨防假冒。",
    },
    "state_not_activated": {
        "vi": "Tem này đã được phát hành nhưng chưa được gắn với lô hàng nào. Hàng có tem này chưa được xác nhận.",
        "en": "This stamp was issued but never assigned to a lot. Goods carrying it are not confirmed.",
        "zh": "此标签已发放，但未绑定任何批次。贴有此标签的商品未经确认。",
    },
    # What the consumer is told about a detection finding (the ministry sees the engine's own explanation).
    "finding_duplicate": {
        "vi": "Mã này đã được nhiều người khác nhau kiểm tra ở nhiều nơi. Có thể nhiều quả đang mang bản sao "
        "của tem này.",
        "en": "Different people in different places have checked this code. More than one fruit may carry a copy of "
        "this stamp.",
        "zh": "此码已被不同地点的多人查询。可能有多个商品贴着此标签的复制品。",
    },
    "finding_impossible_travel": {
        "vi": "Mã này được kiểm tra ở hai nơi quá xa nhau so với khoảng thời gian giữa hai lần. Tem rất có thể "
        "đã bị sao chép.",
        "en": "This code was checked in two places too far apart for the time between the checks. The stamp has "
        "most likely been copied.",
        "zh": "此码在两地被查询，两地距离远超两次查询间隔内可能的行程。此标签很可能已被复制。",
    },
    "finding_off_route": {
        "vi": "Mã này được kiểm tra ở nơi cách xa tuyến vận chuyển đã khai báo của lô hàng.",
        "en": "This code was checked far from where this lot was sent.",
        "zh": "此码的查询地点远离该批次申报的运输路线。",
    },
    "finding_past_shelf_life": {
        "vi": "Mã này được kiểm tra quá lâu sau hạn sử dụng của quả. Tem có thể đã bị tái sử dụng.",
        "en": "This code was checked long after the fruit's shelf life. The stamp may have been reused.",
        "zh": "此码的查询时间远超水果的保质期。此标签可能被重复使用。",
    },
    "finding_reuse_after_consumption": {
        "vi": "Mã này được kiểm tra lại nhiều tuần sau khi quả đã được tiêu thụ. Tem có thể đã bị tái sử dụng.",
        "en": "This code was checked again weeks after the fruit was eaten. The stamp may have been reused.",
        "zh": "此码在水果被食用数周后再次被查询。此标签可能被重复使用。",
    },
    "finding_pin_reused": {
        "vi": "Mã cào của tem này đã được xác nhận trên một điện thoại khác.",
        "en": "This stamp's scratch-off PIN was already confirmed on another phone.",
        "zh": "此标签的刮开密码已在另一部手机上确认过。",
    },
    "finding_pin_guessing": {
        "vi": "Đã có nhiều lần nhập sai mã cào cho tem này.",
        "en": "Many wrong scratch-off PINs were entered for this stamp.",
        "zh": "此标签的刮开密码已被多次输错。",
    },
    "see_lot": {
        "vi": "Xem thông tin truy xuất của lô hàng",
        "en": "See this lot's trace page",
        "zh": "查看该批次的溯源信息",
    },
    "state_revoked": {
        "vi": "Tem này đã bị thu hồi. Lý do: {reason}",
        "en": "This stamp has been revoked. Reason: {reason}",
        "zh": "此标签已被撤销。原因：{reason}",
    },
    "state_key_revoked": {
        "vi": "Khóa ký của tem này đã bị thu hồi, nên tem không còn giá trị.",
        "en": "The key that signed this stamp has been revoked, so the stamp is no longer valid.",
        "zh": "签发此标签的密钥已被撤销，此标签已失效。",
    },
    "state_unknown_serial": {
        "vi": "Số sê-ri này chưa từng được phát hành.",
        "en": "This serial number was never issued.",
        "zh": "此序列号从未发放。",
    },
    "state_forged": {
        "vi": "Chữ ký của tem không hợp lệ: tem này không do hệ thống phát hành. Đây là hàng giả.",
        "en": "The stamp's signature is not valid: it was not issued by this system. This is a counterfeit.",
        "zh": "标签签名无效：此标签并非本系统签发。此为假冒产品。",
    },
    "malformed": {
        "vi": "Đây không phải là một mã tem hợp lệ.",
        "en": "This is not a valid stamp code.",
        "zh": "这不是有效的标签码。",
    },
    "rate_limited": {
        "vi": "Quá nhiều mã giả từ mạng của bạn. Vui lòng thử lại sau.",
        "en": "Too many forged codes from your network. Please try again later.",
        "zh": "来自您网络的假冒码过多，请稍后再试。",
    },
    "not_found": {"vi": "Không tìm thấy.", "en": "Not found.", "zh": "未找到。"},
    "not_checked": {
        "vi": "Trang này chưa kiểm tra tính xác thực của tem. Để kiểm tra, hãy quét mã QR in trên tem.",
        "en": "Authenticity was not checked on this page. To check it, scan the QR code printed on the stamp.",
        "zh": "本页面未验证真伪。如需验证，请扫描标签上印制的二维码。",
    },
    "not_checked_title": {"vi": "Chưa kiểm tra", "en": "Not checked", "zh": "未验证"},
    "product_hint": {
        "vi": "Mỗi quả hoặc thùng có một tem riêng. Hãy quét mã QR trên tem để xem lô hàng và kiểm tra hàng thật.",
        "en": "Each fruit or box carries its own stamp. Scan the QR code on the stamp to see its lot and check that it "
        "is genuine.",
        "zh": "每个果实或箱子都贴有专属标签。请扫描标签上的二维码，查看批次信息并验证真伪。",
    },
    "unavailable": {
        "vi": "Hệ thống tạm thời chưa kiểm tra được tem. Vui lòng quét lại sau ít phút.",
        "en": "The check is temporarily unavailable. Please scan again in a minute.",
        "zh": "暂时无法验证，请稍后重新扫描。",
    },
    "report_hint": {
        "vi": "Nếu bạn mua hàng này, hãy giữ lại hóa đơn và báo cho cơ quan quản lý thị trường.",
        "en": "If you bought this, keep the receipt and tell the market authority.",
        "zh": "如您已购买，请保留票据并向市场监管部门举报。",
    },
    "product": {"vi": "Sản phẩm", "en": "Product", "zh": "产品"},
    "variety": {"vi": "Giống", "en": "Variety", "zh": "品种"},
    "lot": {"vi": "Lô hàng", "en": "Lot", "zh": "批次"},
    "serial": {"vi": "Số sê-ri", "en": "Serial", "zh": "序列号"},
    "packing_house": {"vi": "Cơ sở đóng gói", "en": "Packing house", "zh": "包装厂"},
    "growing_areas": {"vi": "Vùng trồng", "en": "Growing areas", "zh": "果园"},
    "households": {"vi": "Hộ nông dân", "en": "Farmer households", "zh": "农户"},
    "households_count": {"vi": "{n} hộ", "en": "{n} households", "zh": "{n}户"},
    "harvest_dates": {"vi": "Ngày thu hoạch", "en": "Harvest date", "zh": "采收日期"},
    "packing_date": {"vi": "Ngày đóng gói", "en": "Packing date", "zh": "包装日期"},
    "destination": {"vi": "Thị trường đến", "en": "Destination", "zh": "目的地"},
    "stages": {"vi": "Hành trình", "en": "Journey", "zh": "流通环节"},
    "certificates": {"vi": "Giấy chứng nhận", "en": "Certificates", "zh": "证书"},
    "doc_phytosanitary": {
        "vi": "Giấy chứng nhận kiểm dịch thực vật",
        "en": "Phytosanitary certificate",
        "zh": "植物检疫证书",
    },
    "doc_lab_result": {"vi": "Kết quả kiểm nghiệm", "en": "Lab result", "zh": "检测结果"},
    "stage_harvest": {"vi": "Thu hoạch", "en": "Harvest", "zh": "采收"},
    "stage_receiving": {"vi": "Nhập cơ sở đóng gói", "en": "Received at packing house", "zh": "入厂"},
    "stage_packing": {"vi": "Đóng gói", "en": "Packing", "zh": "包装"},
    "stage_shipping": {"vi": "Vận chuyển", "en": "Shipping", "zh": "运输"},
    "stage_border_crossing": {"vi": "Qua cửa khẩu", "en": "Border crossing", "zh": "通关"},
    "stage_import": {"vi": "Nhập khẩu", "en": "Import", "zh": "进口"},
    "hectares": {"vi": "{n} ha", "en": "{n} ha", "zh": "{n}公顷"},
    "export_china": {
        "vi": "Xuất khẩu sang Cộng hòa Nhân dân Trung Hoa",
        "en": "Exported to the People's Republic of China",
        "zh": "出口至中华人民共和国",
    },
    "pin_title": {"vi": "Xác nhận mã cào", "en": "Confirm the scratch-off code", "zh": "验证刮开码"},
    "pin_help": {
        "vi": "Cào lớp phủ trên tem và nhập 8 chữ số.",
        "en": "Scratch the panel on the stamp and enter its 8 digits.",
        "zh": "刮开标签上的涂层，输入8位数字。",
    },
    "pin_submit": {"vi": "Xác nhận", "en": "Confirm", "zh": "验证"},
    "pin_format": {
        "vi": "Mã cào gồm đúng 8 chữ số.",
        "en": "The scratch-off code is exactly 8 digits.",
        "zh": "刮开码为8位数字。",
    },
    "pin_first": {
        "vi": "Mã cào khớp. Đây là lần xác nhận đầu tiên: tem này là thật.",
        "en": "The code matches. This is its first confirmation: the stamp is genuine.",
        "zh": "刮开码正确，且为首次验证：此标签为正品。",
    },
    "pin_reused": {
        "vi": "Mã cào này đã được xác nhận {n} lần trước đây. Tem thật chỉ được xác nhận một lần: "
        "tem này đã bị sao chép.",
        "en": "This code was already confirmed {n} time(s) before. A genuine stamp is confirmed once: "
        "this one was copied.",
        "zh": "此刮开码之前已被验证{n}次。正品标签只能验证一次：此标签已被复制。",
    },
    "pin_wrong": {
        "vi": "Mã cào không khớp. Hãy kiểm tra lại các chữ số.",
        "en": "The code does not match. Check the digits and try again.",
        "zh": "刮开码不正确，请核对数字后重试。",
    },
    "pin_locked": {
        "vi": "Đã nhập sai mã quá nhiều lần: tem này bị đánh dấu nghi ngờ.",
        "en": "Too many wrong codes were entered: this stamp is now marked suspect.",
        "zh": "错误次数过多：此标签已被标记为可疑。",
    },
    "share_location": {
        "vi": "Gửi vị trí của tôi để tăng độ tin cậy",
        "en": "Share my location to strengthen the check",
        "zh": "分享我的位置以加强验证",
    },
    "authority": {
        "vi": "Bộ Nông nghiệp và Môi trường",
        "en": "Ministry of Agriculture and Environment",
        "zh": "越南农业与环境部",
    },
    "place_unknown": {"vi": "không rõ nơi", "en": "an unknown place", "zh": "未知地点"},
}

COUNTRY_NAMES: dict[str, dict[str, str]] = {
    "VN": {"vi": "Việt Nam", "en": "Vietnam", "zh": "越南"},
    "CN": {"vi": "Trung Quốc", "en": "China", "zh": "中国"},
    "TH": {"vi": "Thái Lan", "en": "Thailand", "zh": "泰国"},
    "LA": {"vi": "Lào", "en": "Laos", "zh": "老挝"},
    "KH": {"vi": "Campuchia", "en": "Cambodia", "zh": "柬埔寨"},
    "HK": {"vi": "Hồng Kông", "en": "Hong Kong", "zh": "香港"},
    "US": {"vi": "Hoa Kỳ", "en": "United States", "zh": "美国"},
    "JP": {"vi": "Nhật Bản", "en": "Japan", "zh": "日本"},
    "KR": {"vi": "Hàn Quốc", "en": "South Korea", "zh": "韩国"},
}


def t(key: str, lang: str, **values: object) -> str:
    text = MESSAGES[key].get(lang) or MESSAGES[key][DEFAULT_LANGUAGE]
    return text.format(**values) if values else text


def finding_lines(findings: Iterable[Any], lang: str) -> list[str]:
    """One plain line per kind of finding the consumer should know about; the registry's own states
    (revoked, never activated) have their lines already."""
    kinds = dict.fromkeys(f"finding_{f.type.value}" for f in findings)
    return [t(key, lang) for key in kinds if key in MESSAGES]


def country_name(code: str | None, lang: str) -> str:
    if not code:
        return ""
    return COUNTRY_NAMES.get(code, {}).get(lang, code)


def choose_language(accept_language: str | None, requested: str | None = None) -> str:
    """An explicit ?lang= wins; then the best Accept-Language match; then English."""
    if requested in LANGUAGES:
        return requested
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for part in (accept_language or "")[:512].split(","):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()[:2]
        q = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag in LANGUAGES and q > best_q:
            best, best_q = tag, q
    return best


_TZ = {"vi": dt.timezone(dt.timedelta(hours=7)), "zh": dt.timezone(dt.timedelta(hours=8))}


def format_time(epoch: float | dt.datetime | None, lang: str) -> str:
    """Local time for the reader: Vietnam time for Vietnamese, China time for Chinese, UTC otherwise."""
    if epoch is None:
        return ""
    moment = epoch if isinstance(epoch, dt.datetime) else dt.datetime.fromtimestamp(epoch, dt.UTC)
    tz = _TZ.get(lang, dt.UTC)
    local = moment.astimezone(tz)
    if lang == "vi":
        return local.strftime("%H:%M %d/%m/%Y")
    if lang == "zh":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return local.strftime("%d %b %Y %H:%M UTC")


def format_date(day: dt.date | str | None, lang: str) -> str:
    if day is None:
        return ""
    value = dt.date.fromisoformat(day) if isinstance(day, str) else day
    if lang == "vi":
        return value.strftime("%d/%m/%Y")
    if lang == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return value.strftime("%d %b %Y")


def format_number(value: float | int, lang: str) -> str:
    text = f"{value:,.1f}" if isinstance(value, float) and not value.is_integer() else f"{int(value):,}"
    if lang == "vi":  # Vietnamese groups with dots and uses a decimal comma
        return text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text
