"""Words on the portal's pages, in Vietnamese (the default: packing-house staff), English and Chinese."""

from __future__ import annotations

LANGUAGES = ("vi", "en", "zh")
DEFAULT_LANGUAGE = "vi"
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English", "zh": "中文"}

MESSAGES: dict[str, dict[str, str]] = {
    "title": {"vi": "Cổng cơ sở đóng gói", "en": "Packing-house portal", "zh": "包装厂门户"},
    "login_title": {"vi": "Đăng nhập", "en": "Log in", "zh": "登录"},
    "login_help": {
        "vi": "Dán mã truy cập (API token) của cơ sở đóng gói. Phiên đăng nhập được lưu trong cookie của trình duyệt.",
        "en": "Paste your packing house's API token. The login is kept in a browser cookie.",
        "zh": "粘贴包装厂的访问令牌（API token）。登录状态保存在浏览器 cookie 中。",
    },
    "token": {"vi": "Mã truy cập", "en": "Token", "zh": "访问令牌"},
    "login": {"vi": "Đăng nhập", "en": "Log in", "zh": "登录"},
    "logout": {"vi": "Đăng xuất", "en": "Log out", "zh": "退出"},
    "login_failed": {
        "vi": "Mã truy cập không đúng hoặc đã bị thu hồi.",
        "en": "The token is unknown or revoked.",
        "zh": "令牌无效或已被撤销。",
    },
    "login_not_packer": {
        "vi": "Cổng này chỉ dành cho cơ sở đóng gói.",
        "en": "This portal is for packing houses.",
        "zh": "本门户仅供包装厂使用。",
    },
    "csrf_failed": {
        "vi": "Biểu mẫu đã hết hạn. Hãy tải lại trang và thử lại.",
        "en": "The form has expired. Reload the page and try again.",
        "zh": "表单已过期，请刷新页面后重试。",
    },
    "origin_failed": {
        "vi": "Yêu cầu phải đến từ chính trang này.",
        "en": "The request must come from this site's own page.",
        "zh": "请求必须来自本网站的页面。",
    },
    "not_found": {"vi": "Không tìm thấy.", "en": "Not found.", "zh": "未找到。"},
    "error_title": {"vi": "Có lỗi", "en": "Something went wrong", "zh": "出错了"},
    "back": {"vi": "Quay lại", "en": "Back", "zh": "返回"},
    "lots": {"vi": "Lô hàng", "en": "Lots", "zh": "批次"},
    "no_lots": {
        "vi": "Chưa có lô hàng nào.",
        "en": "No lots yet.",
        "zh": "暂无批次。",
    },
    "lot_code": {"vi": "Mã lô", "en": "Lot", "zh": "批次号"},
    "product": {"vi": "Sản phẩm (GTIN)", "en": "Product (GTIN)", "zh": "产品（GTIN）"},
    "harvest": {"vi": "Ngày thu hoạch", "en": "Harvest", "zh": "采收日期"},
    "markets": {"vi": "Thị trường", "en": "Markets", "zh": "目的市场"},
    "areas": {"vi": "Vùng trồng", "en": "Growing areas", "zh": "果园"},
    "order_title": {"vi": "Đặt cuộn tem", "en": "Order a roll of stamps", "zh": "订购标签卷"},
    "quantity": {"vi": "Số tem", "en": "Number of stamps", "zh": "标签数量"},
    "template": {"vi": "Mẫu nhãn", "en": "Label template", "zh": "标签模板"},
    "order": {"vi": "Đặt tem", "en": "Order", "zh": "订购"},
    "orders": {"vi": "Các đơn tem", "en": "Orders", "zh": "订单"},
    "no_orders": {"vi": "Chưa có đơn tem nào.", "en": "No orders yet.", "zh": "暂无订单。"},
    "serials": {"vi": "Số sê-ri", "en": "Serials", "zh": "序列号"},
    "status": {"vi": "Trạng thái", "en": "Status", "zh": "状态"},
    "download": {"vi": "Tải về", "en": "Download", "zh": "下载"},
    "status_pending": {"vi": "Chờ duyệt", "en": "Waiting for approval", "zh": "待审批"},
    "status_approved": {"vi": "Đã cấp", "en": "Issued", "zh": "已签发"},
    "status_rejected": {"vi": "Bị từ chối", "en": "Rejected", "zh": "已拒绝"},
    "order_done": {
        "vi": "Đã đặt đơn {id}: {n} tem.",
        "en": "Order {id} placed: {n} stamps.",
        "zh": "订单 {id} 已提交：{n} 枚标签。",
    },
    "unknown_template": {
        "vi": "Không có mẫu nhãn “{name}”.",
        "en": "There is no label template “{name}”.",
        "zh": "没有名为“{name}”的标签模板。",
    },
    "no_product": {
        "vi": "Hãy đăng ký sản phẩm trước khi đặt tem.",
        "en": "Register a product before ordering stamps.",
        "zh": "请先登记产品再订购标签。",
    },
    "bad_quantity": {
        "vi": "Số tem phải là số nguyên dương.",
        "en": "The number of stamps must be a whole number above zero.",
        "zh": "标签数量必须是正整数。",
    },
    "activate_title": {"vi": "Kích hoạt tem cho một lô", "en": "Activate stamps on a lot", "zh": "为批次激活标签"},
    "activate_help": {
        "vi": "Quét tem đầu và tem cuối của cuộn (hoặc gõ số sê-ri).",
        "en": "Scan the first and the last stamp of the roll (or type their serial numbers).",
        "zh": "扫描标签卷的第一枚和最后一枚标签（或输入序列号）。",
    },
    "first_stamp": {"vi": "Tem đầu", "en": "First stamp", "zh": "第一枚标签"},
    "last_stamp": {"vi": "Tem cuối", "en": "Last stamp", "zh": "最后一枚标签"},
    "check": {"vi": "Kiểm tra", "en": "Check", "zh": "检查"},
    "preview_title": {"vi": "Xác nhận kích hoạt", "en": "Confirm activation", "zh": "确认激活"},
    "preview": {
        "vi": "Sê-ri {first}–{last}, {n} tem, lô {lot}",
        "en": "Serials {first}–{last}, {n} stamps, lot {lot}",
        "zh": "序列号 {first}–{last}，共 {n} 枚标签，批次 {lot}",
    },
    "confirm": {"vi": "Xác nhận kích hoạt", "en": "Activate", "zh": "确认激活"},
    "cancel": {"vi": "Hủy", "en": "Cancel", "zh": "取消"},
    "activated": {
        "vi": "Đã kích hoạt {n} tem (sê-ri {first}–{last}) cho lô {lot}.",
        "en": "{n} stamps activated (serials {first}–{last}) on lot {lot}.",
        "zh": "已为批次 {lot} 激活 {n} 枚标签（序列号 {first}–{last}）。",
    },
    "bad_stamp": {
        "vi": "Không đọc được tem: hãy quét lại hoặc gõ số sê-ri.",
        "en": "The stamp could not be read: scan it again or type its serial number.",
        "zh": "无法识别标签：请重新扫描或输入序列号。",
    },
    "reversed": {
        "vi": "Tem cuối có số nhỏ hơn tem đầu.",
        "en": "The last stamp's number is smaller than the first's.",
        "zh": "最后一枚标签的序列号小于第一枚。",
    },
    "other_gtin": {
        "vi": "Tem này thuộc sản phẩm {gtin}, không phải sản phẩm của lô {lot}.",
        "en": "This stamp is for product {gtin}, not the product of lot {lot}.",
        "zh": "该标签属于产品 {gtin}，不是批次 {lot} 的产品。",
    },
    "lot_title": {"vi": "Lô {code}", "en": "Lot {code}", "zh": "批次 {code}"},
    "activations": {"vi": "Tem đã kích hoạt", "en": "Activated stamps", "zh": "已激活标签"},
    "none": {"vi": "Chưa có.", "en": "None yet.", "zh": "暂无。"},
    "nav_home": {"vi": "Lô hàng và tem", "en": "Lots and stamps", "zh": "批次与标签"},
    "nav_farms": {"vi": "Vùng trồng và hộ", "en": "Growing areas and households", "zh": "果园与农户"},
    "nav_new_lot": {"vi": "Tạo lô mới", "en": "New lot", "zh": "新建批次"},
    "nav_alerts": {"vi": "Cảnh báo", "en": "Alerts", "zh": "警报"},
    "nav_languages": {"vi": "Ngôn ngữ", "en": "Language", "zh": "语言"},
    "nav_sections": {"vi": "Các trang", "en": "Pages", "zh": "页面"},
    "saved": {"vi": "Đã lưu.", "en": "Saved.", "zh": "已保存。"},
    "area_code": {"vi": "Mã số vùng trồng", "en": "Growing area code", "zh": "果园注册号"},
    "province": {"vi": "Tỉnh/thành", "en": "Province", "zh": "省份"},
    "variety": {"vi": "Giống", "en": "Variety", "zh": "品种"},
    "register_area": {"vi": "Đăng ký vùng trồng", "en": "Register a growing area", "zh": "登记果园"},
    "households": {"vi": "Hộ nông dân", "en": "Farmer households", "zh": "农户"},
    "household_name": {"vi": "Tên hộ", "en": "Household name", "zh": "农户名称"},
    "register_household": {"vi": "Đăng ký hộ nông dân", "en": "Register a household", "zh": "登记农户"},
    "save": {"vi": "Lưu", "en": "Save", "zh": "保存"},
    "new_lot_help": {
        "vi": "Ngày viết theo dạng 2026-06-02; nhiều ngày hoặc nhiều thị trường cách nhau bằng dấu phẩy.",
        "en": "Dates as 2026-06-02; several dates or markets separated by commas.",
        "zh": "日期格式为 2026-06-02；多个日期或市场用逗号分隔。",
    },
    "packing_date": {"vi": "Ngày đóng gói", "en": "Packing date", "zh": "包装日期"},
    "markets_help": {
        "vi": "Thị trường (mã nước, ví dụ CN)",
        "en": "Markets (country codes, e.g. CN)",
        "zh": "目的市场（国家代码，如 CN）",
    },
    "border_gates": {"vi": "Cửa khẩu", "en": "Border gates", "zh": "口岸"},
    "create_lot": {"vi": "Tạo lô", "en": "Create the lot", "zh": "创建批次"},
    "revoke_title": {"vi": "Thu hồi tem", "en": "Revoke stamps", "zh": "撤销标签"},
    "revoke_help": {
        "vi": "Quét hoặc gõ tem đầu và tem cuối. Ghi chú chỉ dành cho bạn, Bộ và cán bộ kiểm tra; "
        "người tiêu dùng chỉ thấy lý do chung.",
        "en": "Scan or type the first and last stamps. The note is for you, the ministry and inspectors; "
        "consumers see only the reason.",
        "zh": "扫描或输入第一枚和最后一枚标签。备注仅供您、主管部门和检查人员查看；消费者只能看到原因类别。",
    },
    "reason": {"vi": "Lý do", "en": "Reason", "zh": "原因"},
    "note": {"vi": "Ghi chú", "en": "Note", "zh": "备注"},
    "revoke": {"vi": "Thu hồi", "en": "Revoke", "zh": "撤销"},
    "revoked": {"vi": "Đã thu hồi {n} tem.", "en": "{n} stamps revoked.", "zh": "已撤销 {n} 枚标签。"},
    "cat_withdrawn": {
        "vi": "Cơ sở rút lại (hỏng, hủy, không dùng)",
        "en": "Withdrawn (damaged, destroyed, unused)",
        "zh": "撤回（损坏、销毁、未使用）",
    },
    "cat_stolen": {"vi": "Bị mất cắp hoặc thất lạc", "en": "Stolen or lost", "zh": "被盗或遗失"},
    "cat_recalled": {
        "vi": "Thu hồi vì an toàn hoặc chất lượng",
        "en": "Recalled (safety or quality)",
        "zh": "召回（安全或质量）",
    },
    "cat_misprinted": {"vi": "In lỗi", "en": "Misprinted", "zh": "印刷错误"},
    "cat_other": {"vi": "Lý do khác", "en": "Other", "zh": "其他"},
    "alerts_title": {
        "vi": "Cảnh báo về tem và lô của bạn",
        "en": "Alerts on your stamps and lots",
        "zh": "您的标签和批次的警报",
    },
    "no_alerts": {"vi": "Không có cảnh báo.", "en": "No alerts.", "zh": "没有警报。"},
    "alert_type": {"vi": "Loại", "en": "Type", "zh": "类型"},
    "severity": {"vi": "Mức độ", "en": "Severity", "zh": "严重程度"},
    "last_seen": {"vi": "Lần cuối", "en": "Last seen", "zh": "最近一次"},
    "explanation": {"vi": "Giải thích", "en": "Explanation", "zh": "说明"},
    "serial": {"vi": "Sê-ri", "en": "Serial", "zh": "序列号"},
    "files": {"vi": "Giấy tờ của lô", "en": "Lot documents", "zh": "批次文件"},
    "file_help": {
        "vi": "Tệp PDF, JPEG hoặc PNG, tối đa 10 MB.",
        "en": "A PDF, JPEG or PNG file, at most 10 MB.",
        "zh": "PDF、JPEG 或 PNG 文件，最大 10 MB。",
    },
    "file": {"vi": "Tệp", "en": "File", "zh": "文件"},
    "document_kind": {"vi": "Loại giấy tờ", "en": "Kind", "zh": "文件类型"},
    "kind_phytosanitary": {
        "vi": "Giấy chứng nhận kiểm dịch thực vật",
        "en": "Phytosanitary certificate",
        "zh": "植物检疫证书",
    },
    "kind_lab_result": {"vi": "Kết quả kiểm nghiệm", "en": "Lab results", "zh": "检测报告"},
    "upload": {"vi": "Tải lên", "en": "Upload", "zh": "上传"},
    "size": {"vi": "Dung lượng", "en": "Size", "zh": "大小"},
    "file_kind": {"vi": "Hãy chọn loại giấy tờ.", "en": "Choose the kind of document.", "zh": "请选择文件类型。"},
    "file_empty": {"vi": "Chưa chọn tệp.", "en": "No file was chosen.", "zh": "未选择文件。"},
    "file_too_large": {
        "vi": "Tệp lớn hơn 10 MB.",
        "en": "The file is larger than 10 MB.",
        "zh": "文件超过 10 MB。",
    },
    "file_type": {
        "vi": "Tệp không phải PDF, JPEG hay PNG.",
        "en": "The file is not a PDF, JPEG or PNG.",
        "zh": "文件不是 PDF、JPEG 或 PNG。",
    },
    # The services' messages are in English; the common ones are given in every language here (by pattern).
    "err_not_issued": {
        "vi": "Các số sê-ri này chưa được cấp cho cơ sở của bạn.",
        "en": "These serials have not all been issued to your packing house.",
        "zh": "这些序列号并未全部签发给您的包装厂。",
    },
    "err_already_active": {
        "vi": "Một số tem trong khoảng này đã được kích hoạt.",
        "en": "Some stamps of this range are already activated.",
        "zh": "该范围内的部分标签已被激活。",
    },
    "err_revoked": {
        "vi": "Một số tem trong khoảng này đã bị thu hồi, không thể kích hoạt.",
        "en": "Some stamps of this range are revoked and cannot be activated.",
        "zh": "该范围内的部分标签已被撤销，无法激活。",
    },
    "err_no_lot": {"vi": "Không tìm thấy lô hàng này.", "en": "There is no such lot.", "zh": "没有该批次。"},
    "err_too_many": {
        "vi": "Số tem vượt quá mức tối đa cho một đơn.",
        "en": "The number of stamps is above the maximum for one order.",
        "zh": "标签数量超过单个订单的上限。",
    },
}


def t(key: str, lang: str, **values: object) -> str:
    text = MESSAGES[key].get(lang) or MESSAGES[key][DEFAULT_LANGUAGE]
    return text.format(**values) if values else text


def choose_language(requested: str | None) -> str:
    """An explicit ?lang= (vi, en or zh) wins; otherwise Vietnamese."""
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


# A service's message (English, from TemError) → a key above, by a phrase it contains.
SERVICE_MESSAGES = (
    ("not all been issued", "err_not_issued"),
    ("were not issued to your packing house", "err_not_issued"),
    ("are already activated", "err_already_active"),
    ("are revoked and cannot be activated", "err_revoked"),
    ("no lot with code", "err_no_lot"),
    ("above the maximum", "err_too_many"),
)


def service_message(message: str, lang: str) -> str:
    """A service's error in the reader's words where a translation exists; the service's own words otherwise
    (with the English kept beside a translation, since it names the exact serials)."""
    for phrase, key in SERVICE_MESSAGES:
        if phrase in message:
            return message if lang == "en" else f"{t(key, lang)} ({message})"
    return message
