"""Words on the portal's pages, in Vietnamese (the default: packing-house staff), English and Chinese."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from resolver.i18n import format_number

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
    # A lot's destinations, its chain stages, products
    "destinations": {"vi": "Nơi đến", "en": "Destinations", "zh": "目的地"},
    "destinations_help": {
        "vi": "Thị trường là mã nước (ví dụ CN), cách nhau bằng dấu phẩy. Mỗi nơi đến là một thành phố hoặc đầu "
        "mối trong các thị trường đó, với tọa độ (ví dụ 22.8170, 108.3665). Xóa tên một dòng để bỏ nơi đó.",
        "en": "Markets are country codes (e.g. CN), separated by commas. Each place is a city or hub in those "
        "markets, with its coordinates (e.g. 22.8170, 108.3665). Clear a row's city to remove it.",
        "zh": "目的市场填写国家代码（如 CN），用逗号分隔。每个目的地是这些市场内的城市或集散地，并附坐标"
        "（如 22.8170, 108.3665）。清空某行的城市名即可删除该目的地。",
    },
    "places": {"vi": "Thành phố, đầu mối đến", "en": "Destination places", "zh": "目的城市或集散地"},
    "place_city": {"vi": "Thành phố", "en": "City", "zh": "城市"},
    "country": {"vi": "Nước", "en": "Country", "zh": "国家"},
    "latitude": {"vi": "Vĩ độ", "en": "Latitude", "zh": "纬度"},
    "longitude": {"vi": "Kinh độ", "en": "Longitude", "zh": "经度"},
    "any_gate": {"vi": "Cửa khẩu bất kỳ", "en": "Any border gate", "zh": "任意口岸"},
    "anywhere": {
        "vi": "Bất kỳ đâu trong các thị trường",
        "en": "Anywhere in the markets",
        "zh": "目的市场内任意地点",
    },
    "save_destinations": {"vi": "Lưu nơi đến", "en": "Save the destinations", "zh": "保存目的地"},
    "destinations_saved": {"vi": "Đã lưu nơi đến.", "en": "Destinations saved.", "zh": "目的地已保存。"},
    "stages": {"vi": "Các công đoạn", "en": "Chain stages", "zh": "流通环节"},
    "stage": {"vi": "Công đoạn", "en": "Stage", "zh": "环节"},
    "stage_time": {"vi": "Thời gian (giờ địa phương)", "en": "Time (local)", "zh": "时间（当地）"},
    "stage_zone": {"vi": "Múi giờ", "en": "Time zone", "zh": "时区"},
    "zone_+07:00": {"vi": "UTC+7 (Việt Nam)", "en": "UTC+7 (Vietnam)", "zh": "UTC+7（越南）"},
    "zone_+08:00": {"vi": "UTC+8 (Trung Quốc)", "en": "UTC+8 (China)", "zh": "UTC+8（中国）"},
    "zone_+00:00": {"vi": "UTC", "en": "UTC", "zh": "UTC"},
    "stage_place": {"vi": "Địa điểm", "en": "Place", "zh": "地点"},
    "consignee": {
        "vi": "Bên nhận (mã tổ chức, chỉ khi vận chuyển)",
        "en": "Consignee (organisation code, shipping only)",
        "zh": "收货方（机构代码，仅限运输）",
    },
    "err_consignee": {
        "vi": "Bên nhận phải là mã của một nhà phân phối hoặc cơ sở đóng gói khác đã đăng ký, "
        "và chỉ ghi khi vận chuyển.",
        "en": "The consignee must be the code of a registered distributor or another packing house, "
        "on a shipping stage only.",
        "zh": "收货方必须是已登记的经销商或其他包装厂的代码，且仅用于运输环节。",
    },
    "record_stage": {"vi": "Ghi công đoạn", "en": "Record the stage", "zh": "记录环节"},
    "stage_saved": {"vi": "Đã ghi công đoạn.", "en": "Stage recorded.", "zh": "环节已记录。"},
    "stages_help": {
        "vi": "Người tiêu dùng thấy các công đoạn trên trang truy xuất; ghi chú chỉ dành cho bạn và Bộ.",
        "en": "Consumers see the stages on the trace page; the note is for you and the ministry.",
        "zh": "消费者可在溯源页面看到各环节；备注仅供您和主管部门查看。",
    },
    "nav_products": {"vi": "Sản phẩm", "en": "Products", "zh": "产品"},
    "products_help": {
        "vi": "Mỗi sản phẩm có một mã GTIN (8, 12, 13 hoặc 14 chữ số) do GS1 Việt Nam cấp; tem được đặt theo sản "
        "phẩm. Tên sản phẩm được in trên trang truy xuất bằng tiếng Việt, tiếng Anh và tiếng Trung.",
        "en": "Each product has a GTIN (8, 12, 13 or 14 digits) from GS1 Vietnam; stamps are ordered per product. "
        "Its names are shown on the trace page in Vietnamese, English and Chinese.",
        "zh": "每个产品有一个由 GS1 越南分配的 GTIN（8、12、13 或 14 位数字）；标签按产品订购。产品名称以越南语、"
        "英语和中文显示在溯源页面上。",
    },
    "gtin": {"vi": "GTIN", "en": "GTIN", "zh": "GTIN"},
    "name_vi": {"vi": "Tên tiếng Việt", "en": "Name in Vietnamese", "zh": "越南语名称"},
    "name_en": {"vi": "Tên tiếng Anh", "en": "Name in English", "zh": "英语名称"},
    "name_zh": {"vi": "Tên tiếng Trung", "en": "Name in Chinese", "zh": "中文名称"},
    "shelf_life": {"vi": "Hạn dùng (ngày)", "en": "Shelf life (days)", "zh": "保质期（天）"},
    "register_product": {"vi": "Đăng ký sản phẩm", "en": "Register a product", "zh": "登记产品"},
    "no_products": {"vi": "Chưa có sản phẩm nào.", "en": "No products yet.", "zh": "暂无产品。"},
    "product_saved": {
        "vi": "Đã đăng ký sản phẩm. Bây giờ có thể tạo lô và đặt tem.",
        "en": "Product registered. You can now create lots and order stamps.",
        "zh": "产品已登记，现在可以创建批次并订购标签。",
    },
    "bad_zone": {"vi": "Hãy chọn múi giờ.", "en": "Choose a time zone.", "zh": "请选择时区。"},
    # What a form's field is called when something in it is wrong (`form_problems`)
    "field_code": {"vi": "Mã", "en": "Code", "zh": "代码"},
    "field_name": {"vi": "Tên", "en": "Name", "zh": "名称"},
    "field_growing_area": {"vi": "Vùng trồng", "en": "Growing area", "zh": "果园"},
    "field_crop": {"vi": "Cây trồng", "en": "Crop", "zh": "作物"},
    "field_category": {"vi": "Lý do", "en": "Reason", "zh": "原因"},
    "field_reason": {"vi": "Ghi chú", "en": "Note", "zh": "备注"},
    "field_first_serial": {"vi": "Tem đầu", "en": "First stamp", "zh": "第一枚标签"},
    "field_last_serial": {"vi": "Tem cuối", "en": "Last stamp", "zh": "最后一枚标签"},
    "problem_missing": {"vi": "chưa điền", "en": "is missing", "zh": "未填写"},
    "problem_invalid": {"vi": "không hợp lệ", "en": "is not valid", "zh": "无效"},
    "problem_too_long": {
        "vi": "quá dài (tối đa {n})",
        "en": "is too long (at most {n})",
        "zh": "过长（最多 {n}）",
    },
    "problem_at_most": {"vi": "phải nhỏ hơn hoặc bằng {n}", "en": "must be at most {n}", "zh": "不得大于 {n}"},
    "problem_at_least": {"vi": "phải lớn hơn hoặc bằng {n}", "en": "must be at least {n}", "zh": "不得小于 {n}"},
    "problem_above": {"vi": "phải lớn hơn {n}", "en": "must be above {n}", "zh": "必须大于 {n}"},
    "problem_below": {"vi": "phải nhỏ hơn {n}", "en": "must be below {n}", "zh": "必须小于 {n}"},
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
    "err_phi": {
        "vi": "Thời gian cách ly của một lần phun thuốc chưa hết vào ngày thu hoạch: chưa thể kích hoạt tem.",
        "en": "A spray's pre-harvest interval had not passed by the harvest: the stamps cannot be activated yet.",
        "zh": "某次喷药的安全间隔期在采收日尚未届满：暂不能激活标签。",
    },
    "err_banned": {
        "vi": "Nhật ký canh tác ghi một hoạt chất bị cấm tại Việt Nam trong 12 tháng trước thu hoạch.",
        "en": "The farming diary records an active ingredient banned in Vietnam in the 12 months before harvest.",
        "zh": "种植日志记录了采收前 12 个月内使用越南禁用的有效成分。",
    },
    "err_phyto": {
        "vi": "Lô xuất khẩu cần giấy chứng nhận kiểm dịch thực vật trước khi kích hoạt tem.",
        "en": "An export lot needs its phytosanitary certificate before its stamps are activated.",
        "zh": "出口批次须先附植物检疫证书才能激活标签。",
    },
    "err_too_many": {
        "vi": "Số tem vượt quá mức tối đa cho một đơn.",
        "en": "The number of stamps is above the maximum for one order.",
        "zh": "标签数量超过单个订单的上限。",
    },
    "err_country": {
        "vi": "Không phải mã nước hai chữ cái (ví dụ CN, VN).",
        "en": "Not a two-letter country code (for example CN, VN).",
        "zh": "不是两位字母的国家代码（如 CN、VN）。",
    },
    "err_gate": {"vi": "Không phải cửa khẩu đã biết.", "en": "Not a known border gate.", "zh": "不是已知口岸。"},
    "err_places_outside": {
        "vi": "Có nơi đến không thuộc các thị trường của lô.",
        "en": "Some places are outside the lot's markets.",
        "zh": "部分目的地不在该批次的目的市场内。",
    },
    "err_province": {
        "vi": "Không phải tên tỉnh/thành của Việt Nam.",
        "en": "Not a Vietnamese province.",
        "zh": "不是越南的省份。",
    },
    "err_gtin": {
        "vi": "Mã GTIN không đúng (8, 12, 13 hoặc 14 chữ số, chữ số cuối là số kiểm tra).",
        "en": "The GTIN is wrong (8, 12, 13 or 14 digits, the last one a check digit).",
        "zh": "GTIN 有误（8、12、13 或 14 位数字，最后一位为校验位）。",
    },
    "err_registered": {"vi": "Mã này đã được đăng ký.", "en": "This is already registered.", "zh": "该代码已登记。"},
    "err_format": {
        "vi": "Mã không đúng định dạng quy định.",
        "en": "The code does not match the required format.",
        "zh": "代码不符合规定格式。",
    },
    "err_packing_date": {
        "vi": "Ngày đóng gói sớm hơn ngày thu hoạch đầu tiên.",
        "en": "The packing date is before the first harvest date.",
        "zh": "包装日期早于首个采收日期。",
    },
    "err_box_label_lot": {
        "vi": "Mã vạch của nhãn thùng mang số lô: hãy kích hoạt các tem này vào lô của chúng trước, rồi mới in.",
        "en": "Box labels carry the lot in their barcode: activate these stamps on their lot first, then print them.",
        "zh": "箱标的条码包含批次号：请先将这些标签激活到其批次，然后再打印。",
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
    ("cannot receive a lot", "err_consignee"),
    ("only a shipping stage names a consignee", "err_consignee"),
    ("no organisation with code", "err_consignee"),
    ("not all been issued", "err_not_issued"),
    ("were not issued to your packing house", "err_not_issued"),
    ("are already activated", "err_already_active"),
    ("are revoked and cannot be activated", "err_revoked"),
    ("no lot with code", "err_no_lot"),
    ("pre-harvest interval has not passed", "err_phi"),
    ("which is banned in Vietnam", "err_banned"),
    ("has no phytosanitary certificate attached", "err_phyto"),
    ("above the maximum", "err_too_many"),
    ("is not an ISO 3166-1 alpha-2 country code", "err_country"),
    ("is not a known border gate", "err_gate"),
    ("destination places outside the destination markets", "err_places_outside"),
    ("is not a Vietnamese province", "err_province"),
    ("GTIN must", "err_gtin"),
    ("GTIN check digit", "err_gtin"),
    ("GTIN is empty", "err_gtin"),
    ("is already registered", "err_registered"),
    ("does not match the configured format", "err_format"),
    ("packing_date is before the first harvest date", "err_packing_date"),
    ("box labels carry the lot in their barcode", "err_box_label_lot"),
)


def service_message(message: str, lang: str) -> str:
    """A service's error in the reader's words where a translation exists; the service's own words otherwise
    (with the English kept beside a translation, since it names the exact serials)."""
    for phrase, key in SERVICE_MESSAGES:
        if phrase in message:
            return message if lang == "en" else f"{t(key, lang)} ({message})"
    return message


#: A form field's words, by the issuer's field name; a field not named here is shown by that name.
FIELD_KEYS = {
    "gtin": "gtin",
    "name_vi": "name_vi",
    "name_en": "name_en",
    "name_zh": "name_zh",
    "variety": "variety",
    "shelf_life_days": "shelf_life",
    "code": "field_code",
    "province": "province",
    "crop": "field_crop",
    "name": "field_name",
    "growing_area": "field_growing_area",
    "growing_areas": "areas",
    "households": "households",
    "harvest_dates": "harvest",
    "packing_date": "packing_date",
    "destination_markets": "markets",
    "border_gates": "border_gates",
    "destination_places": "places",
    "lat": "latitude",
    "lon": "longitude",
    "country": "country",
    "stage": "stage",
    "occurred_at": "stage_time",
    "place": "stage_place",
    "consignee": "consignee",
    "note": "note",
    "category": "field_category",
    "reason": "field_reason",
    "first_serial": "field_first_serial",
    "last_serial": "field_last_serial",
    "quantity": "quantity",
}


class FormProblem(Protocol):
    """One thing wrong in a form (`portal.service.Problem`)."""

    @property
    def loc(self) -> tuple[str | int, ...]: ...
    @property
    def kind(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def limits(self) -> dict[str, object]: ...


def _where(loc: tuple[str | int, ...], lang: str) -> str:
    """`("destination_places", 1, "lat")` → "Destination places 2 · Latitude": fields in words, rows from 1."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            if parts:
                parts[-1] = f"{parts[-1]} {part + 1}"
        elif part in FIELD_KEYS:
            parts.append(t(FIELD_KEYS[part], lang))
        else:
            parts.append(part)
    return " · ".join(parts)


def _limit(limits: dict[str, object], name: str, lang: str) -> str:
    value = limits.get(name, "")
    return format_number(value, lang) if isinstance(value, int | float) else str(value)


def _problem(problem: FormProblem, lang: str) -> str:
    kind, limits = problem.kind, problem.limits
    if kind in {"missing", "string_too_short", "too_short"}:
        return t("problem_missing", lang)
    if kind in {"string_too_long", "too_long"}:
        return t("problem_too_long", lang, n=_limit(limits, "max_length", lang))
    if kind == "less_than_equal":
        return t("problem_at_most", lang, n=_limit(limits, "le", lang))
    if kind == "greater_than_equal":
        return t("problem_at_least", lang, n=_limit(limits, "ge", lang))
    if kind == "greater_than":
        return t("problem_above", lang, n=_limit(limits, "gt", lang))
    if kind == "less_than":
        return t("problem_below", lang, n=_limit(limits, "lt", lang))
    if kind == "value_error":
        translated = service_message(problem.message, lang)
        if lang == "en" or translated != problem.message:
            return translated
        return f"{t('problem_invalid', lang)} ({problem.message})"
    if kind.endswith(("_parsing", "_type")) or kind in {"enum", "literal_error", "extra_forbidden"}:
        return t("problem_invalid", lang)
    return problem.message if lang == "en" else f"{t('problem_invalid', lang)} ({problem.message})"


def form_problems(problems: Sequence[FormProblem], lang: str) -> str:
    """What is wrong in a form, in the reader's words: "Latitude: must be at most 90; Country: …"."""
    said = []
    for problem in problems:
        where = _where(problem.loc, lang)
        said.append(f"{where}: {_problem(problem, lang)}" if where else _problem(problem, lang))
    return "; ".join(said)
