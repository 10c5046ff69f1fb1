"""Words on the ministry's pages and reports: Vietnamese (the default, for the ministry's staff), English, Chinese."""

from __future__ import annotations

LANGUAGES = ("vi", "en", "zh")
DEFAULT_LANGUAGE = "vi"
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English", "zh": "中文"}

MESSAGES: dict[str, dict[str, str]] = {
    "title": {"vi": "Báo cáo của Bộ", "en": "Ministry reports", "zh": "农业与环境部报告"},
    "authority": {
        "vi": "Bộ Nông nghiệp và Môi trường",
        "en": "Ministry of Agriculture and Environment",
        "zh": "越南农业与环境部",
    },
    "login_title": {"vi": "Đăng nhập", "en": "Log in", "zh": "登录"},
    "login_help": {
        "vi": "Dán mã truy cập (API token) của cán bộ Bộ. Phiên đăng nhập được lưu trong cookie của trình duyệt.",
        "en": "Paste a ministry officer's API token. The login is kept in a browser cookie.",
        "zh": "请粘贴农业与环境部工作人员的访问令牌（API token）。登录状态保存在浏览器的 cookie 中。",
    },
    "token": {"vi": "Mã truy cập", "en": "Token", "zh": "访问令牌"},
    "login": {"vi": "Đăng nhập", "en": "Log in", "zh": "登录"},
    "logout": {"vi": "Đăng xuất", "en": "Log out", "zh": "退出登录"},
    "login_failed": {
        "vi": "Mã truy cập không đúng hoặc đã bị thu hồi.",
        "en": "The token is unknown or revoked.",
        "zh": "访问令牌不正确或已被撤销。",
    },
    "login_not_ministry": {
        "vi": "Trang này chỉ dành cho cán bộ Bộ.",
        "en": "These pages are for ministry staff.",
        "zh": "本页面仅供农业与环境部工作人员使用。",
    },
    "login_not_our_page": {
        "vi": "Biểu mẫu đăng nhập đã hết hạn hoặc không được gửi từ trang này. Vui lòng đăng nhập lại.",
        "en": "The login form has expired or was not sent from this site's page. Please log in again.",
        "zh": "登录表单已过期，或不是从本网站页面提交的。请重新登录。",
    },
    "filters": {"vi": "Bộ lọc", "en": "Filters", "zh": "筛选条件"},
    "since": {"vi": "Từ ngày", "en": "From", "zh": "开始日期"},
    "until": {"vi": "Đến ngày", "en": "To", "zh": "结束日期"},
    "any": {"vi": "Tất cả", "en": "Any", "zh": "全部"},
    "apply": {"vi": "Xem", "en": "Show", "zh": "查看"},
    "type": {"vi": "Loại", "en": "Type", "zh": "类型"},
    "severity": {"vi": "Mức độ", "en": "Severity", "zh": "严重程度"},
    "status": {"vi": "Trạng thái", "en": "Status", "zh": "状态"},
    "packing_house": {"vi": "Cơ sở đóng gói", "en": "Packing house", "zh": "包装厂"},
    "province": {"vi": "Tỉnh/thành", "en": "Province", "zh": "省/市"},
    "country": {"vi": "Quốc gia (nơi quét)", "en": "Country (where scanned)", "zh": "国家（扫码地）"},
    "days_note": {
        "vi": "Ngày và tháng theo giờ Việt Nam (UTC+7).",
        "en": "Days and months are Vietnam time (UTC+7).",
        "zh": "日期和月份按越南时间（UTC+7）计算。",
    },
    "alerts_total": {
        "vi": "{n} cảnh báo trong khoảng thời gian này",
        "en": "{n} alerts in this period",
        "zh": "本期共 {n} 条预警",
    },
    "alerts_per_day": {"vi": "Cảnh báo theo ngày", "en": "Alerts per day", "zh": "每日预警"},
    "area_map": {"vi": "Bản đồ vùng trồng", "en": "Map of growing areas", "zh": "种植区地图"},
    "area_map_none": {"vi": "Chưa có vùng trồng nào.", "en": "No growing areas yet.", "zh": "暂无种植区。"},
    "as_active": {"vi": "Đang hoạt động", "en": "Active", "zh": "有效"},
    "as_suspended": {"vi": "Tạm dừng", "en": "Suspended", "zh": "已暂停"},
    "as_revoked": {"vi": "Thu hồi", "en": "Revoked", "zh": "已撤销"},
    "alerts_by_type": {"vi": "Cảnh báo theo loại", "en": "Alerts by type", "zh": "按类型统计的预警"},
    "alerts_by_severity": {"vi": "Cảnh báo theo mức độ", "en": "Alerts by severity", "zh": "按严重程度统计的预警"},
    "alerts_by_status": {"vi": "Cảnh báo theo trạng thái", "en": "Alerts by status", "zh": "按状态统计的预警"},
    "alerts_by_province": {
        "vi": "Cảnh báo theo tỉnh của cơ sở đóng gói",
        "en": "Alerts by packing house province",
        "zh": "按包装厂所在省份统计的预警",
    },
    "alerts_by_country": {
        "vi": "Cảnh báo theo quốc gia nơi quét",
        "en": "Alerts by country where scanned",
        "zh": "按扫码国家统计的预警",
    },
    "alerts_by_packing_house": {
        "vi": "Cảnh báo theo cơ sở đóng gói",
        "en": "Alerts by packing house",
        "zh": "按包装厂统计的预警",
    },
    "top_lots": {"vi": "Các lô hàng có nhiều cảnh báo nhất", "en": "Lots with the most alerts", "zh": "预警最多的批次"},
    "lot": {"vi": "Lô hàng", "en": "Lot", "zh": "批次"},
    "alerts": {"vi": "Cảnh báo", "en": "Alerts", "zh": "预警"},
    "flagged_stamps": {"vi": "Tem bị cảnh báo", "en": "Flagged stamps", "zh": "被预警的标签"},
    "scans": {"vi": "Lượt quét", "en": "Scans", "zh": "扫码次数"},
    "flagged_scans": {"vi": "Lượt quét bị đánh dấu", "en": "Flagged scans", "zh": "被标记的扫码"},
    "stamps": {
        "vi": "Tem phát hành, kích hoạt và được quét",
        "en": "Stamps issued, activated and scanned",
        "zh": "标签的发放、激活和扫码",
    },
    "stamps_note": {
        "vi": "Phát hành: theo tháng đặt in. Kích hoạt: theo tháng kích hoạt. Tem được quét: số tem khác nhau, "
        "đếm chính xác trong từng tháng (tháng bị cắt bởi khoảng ngày chỉ đếm tem quét lần đầu trong tháng "
        "ở những ngày đã chọn).",
        "en": "Issued: by the order's month. Activated: by the activation's month. Stamps scanned: distinct stamps, "
        "exact within each calendar month (a month cut by the date range counts the stamps first scanned that "
        "month on the chosen days).",
        "zh": "发放：按印制订单的月份。激活：按激活的月份。被扫码的标签：不同标签的数量，在每个自然月内准确计数（被日"
        "期范围截断的月份，只计算在所选日期内当月首次被扫码的标签）。",
    },
    "month": {"vi": "Tháng", "en": "Month", "zh": "月份"},
    "product": {"vi": "Sản phẩm", "en": "Product", "zh": "产品"},
    "issued": {"vi": "Phát hành", "en": "Issued", "zh": "发放"},
    "activated": {"vi": "Kích hoạt", "en": "Activated", "zh": "激活"},
    "stamps_scanned": {"vi": "Tem được quét", "en": "Stamps scanned", "zh": "被扫码的标签"},
    "scans_by_verdict": {"vi": "Lượt quét theo kết quả", "en": "Scans by verdict", "zh": "按查验结果统计的扫码"},
    "scans_by_country": {"vi": "Lượt quét theo quốc gia", "en": "Scans by country", "zh": "按国家统计的扫码"},
    "none": {"vi": "Không có dữ liệu.", "en": "Nothing in this period.", "zh": "本期没有数据。"},
    "unknown": {"vi": "(không rõ)", "en": "(unknown)", "zh": "（不详）"},
    "export": {"vi": "Xuất dữ liệu", "en": "Export", "zh": "导出数据"},
    "export_alerts_csv": {"vi": "Danh sách cảnh báo (CSV)", "en": "Alert list (CSV)", "zh": "预警列表（CSV）"},
    "export_stamps_csv": {
        "vi": "Số liệu tem theo tháng (CSV)",
        "en": "Stamps per month (CSV)",
        "zh": "每月标签数据（CSV）",
    },
    "export_pdf": {"vi": "Báo cáo (PDF)", "en": "Report (PDF)", "zh": "报告（PDF）"},
    "recent_alerts": {"vi": "Cảnh báo mới nhất", "en": "Latest alerts", "zh": "最新预警"},
    "open_alert": {"vi": "Xem", "en": "Open", "zh": "查看"},
    "first_seen": {"vi": "Lần đầu", "en": "First seen", "zh": "首次发现"},
    "last_seen": {"vi": "Lần cuối", "en": "Last seen", "zh": "最近一次"},
    "count": {"vi": "Số lần", "en": "Count", "zh": "次数"},
    "alert": {"vi": "Cảnh báo", "en": "Alert", "zh": "预警"},
    "back": {"vi": "Về bảng tổng hợp", "en": "Back to the dashboard", "zh": "返回汇总页"},
    "subject": {"vi": "Đối tượng", "en": "Subject", "zh": "对象"},
    "verdict_now": {"vi": "Kết quả tem hiện nay", "en": "The stamp's verdict now", "zh": "标签当前的查验结果"},
    "verdict_now_note": {
        "vi": "người tiêu dùng và cán bộ kiểm tra quét tem lúc này đều nhận kết quả này",
        "en": "what a consumer or an inspector scanning the stamp now is told",
        "zh": "消费者或市场监管人员现在扫码时看到的就是这个结果",
    },
    "stamp": {"vi": "Tem", "en": "Stamp", "zh": "标签"},
    "explanation": {"vi": "Giải thích", "en": "Explanation", "zh": "说明"},
    "trail": {"vi": "Hành trình quét", "en": "Scan trail", "zh": "扫码轨迹"},
    "trail_none": {"vi": "Chưa có lượt quét nào được ghi lại.", "en": "No scans recorded.", "zh": "尚无扫码记录。"},
    "map": {"vi": "Bản đồ các lượt quét", "en": "Map of the scans", "zh": "扫码地图"},
    "map_note": {
        "vi": "Vòng tròn là bán kính sai số của vị trí. Đường viền Việt Nam và bờ biển Trung Quốc chỉ là phác thảo.",
        "en": "Circles show each location's accuracy radius. The outlines of Vietnam and China's coast are rough.",
        "zh": "圆圈表示每个位置的误差半径。越南边界和中国海岸线只是示意。",
    },
    "no_location": {"vi": "không có vị trí", "en": "no location", "zh": "无位置"},
    "history": {"vi": "Lịch sử xử lý", "en": "Workflow history", "zh": "处理记录"},
    "workflow": {"vi": "Xử lý cảnh báo", "en": "Work the alert", "zh": "处理预警"},
    "comment": {"vi": "Ghi chú (bắt buộc khi đóng)", "en": "Comment (needed to close)", "zh": "备注（关闭时必填）"},
    "to_acknowledged": {"vi": "Tiếp nhận", "en": "Acknowledge", "zh": "受理"},
    "to_resolved": {"vi": "Đã xử lý", "en": "Resolve", "zh": "已处理"},
    "to_false_positive": {"vi": "Báo nhầm", "en": "False positive", "zh": "误报"},
    "closed": {"vi": "Cảnh báo đã đóng.", "en": "This alert is closed.", "zh": "此预警已关闭。"},
    "error": {"vi": "Không thực hiện được", "en": "Could not do that", "zh": "无法执行"},
    "accuracy": {"vi": "sai số {km} km", "en": "±{km} km", "zh": "误差 {km} 公里"},
    "findings": {"vi": "Phát hiện", "en": "Findings", "zh": "发现"},
    "sev_info": {"vi": "thông tin", "en": "info", "zh": "提示"},
    "sev_warning": {"vi": "cảnh báo", "en": "warning", "zh": "警告"},
    "sev_critical": {"vi": "nghiêm trọng", "en": "critical", "zh": "严重"},
    "st_open": {"vi": "mới", "en": "open", "zh": "新建"},
    "st_acknowledged": {"vi": "đã tiếp nhận", "en": "acknowledged", "zh": "已受理"},
    "st_resolved": {"vi": "đã xử lý", "en": "resolved", "zh": "已处理"},
    "st_false_positive": {"vi": "báo nhầm", "en": "false positive", "zh": "误报"},
    "v_genuine": {"vi": "hàng thật", "en": "genuine", "zh": "正品"},
    "v_suspect": {"vi": "nghi ngờ", "en": "suspect", "zh": "可疑"},
    "v_counterfeit": {"vi": "hàng giả", "en": "counterfeit", "zh": "假冒"},
    "v_unknown": {"vi": "chưa rõ", "en": "unknown", "zh": "不详"},
    "report_period": {
        "vi": "Kỳ báo cáo: {since} – {until}",
        "en": "Period: {since} – {until}",
        "zh": "报告期：{since} – {until}",
    },
    "generated": {"vi": "Lập lúc {when}", "en": "Generated {when}", "zh": "生成时间 {when}"},
    "reports": {"vi": "Báo cáo của người tiêu dùng", "en": "Consumers' reports", "zh": "消费者举报"},
    "reports_note": {
        "vi": "Mỗi báo cáo là lời khai của một người, chưa phải bằng chứng. Ảnh đã được bỏ thông tin kèm theo "
        "(EXIF, GPS). Chỉ cán bộ của Bộ xem được ảnh và thông tin liên hệ.",
        "en": "Each report is one person's claim, not proof. Photos carry no metadata (EXIF, GPS). Only ministry "
        "staff can see the photos and contacts.",
        "zh": "每条举报只是一个人的陈述，并非证据。照片已删除附带信息（EXIF、GPS）。只有农业与环境部工作人员可以查看照"
        "片和联系方式。",
    },
    "report_shown": {"vi": "Trang đã báo", "en": "The page said", "zh": "页面当时显示"},
    "report_place": {"vi": "Nơi mua", "en": "Bought at", "zh": "购买地点"},
    "report_position": {"vi": "Vị trí điện thoại", "en": "Phone's position", "zh": "手机位置"},
    "report_contact": {"vi": "Liên hệ", "en": "Contact", "zh": "联系方式"},
    "report_network": {"vi": "Mạng (mã băm)", "en": "Network (hash)", "zh": "网络（哈希值）"},
    "report_photo": {"vi": "Ảnh", "en": "Photo", "zh": "照片"},
    "report_no_photo": {"vi": "không có ảnh", "en": "no photo", "zh": "无照片"},
    "comment_needed": {
        "vi": "cần ghi chú lý do khi chuyển cảnh báo sang «{to}»",
        "en": "closing an alert as {to} needs a comment saying why",
        "zh": "将预警改为“{to}”时，需要填写备注说明原因",
    },
    "transition_refused": {
        "vi": "cảnh báo đang ở trạng thái «{now}», không chuyển sang «{to}» được; hãy tải lại trang",
        "en": "the alert is {now} and cannot move to {to}; reload the page",
        "zh": "预警当前状态为“{now}”，不能改为“{to}”；请刷新页面",
    },
    # Alert types (docs/alerts.md), as the ministry's pages and report name them.
    "at_duplicate": {"vi": "tem bị quét trùng", "en": "duplicate stamp", "zh": "标签重复扫码"},
    "at_impossible_travel": {"vi": "di chuyển bất khả thi", "en": "impossible travel", "zh": "不可能的移动"},
    "at_off_route": {"vi": "ngoài tuyến vận chuyển", "en": "off route", "zh": "偏离运输路线"},
    "at_not_activated": {"vi": "tem chưa kích hoạt", "en": "not activated", "zh": "标签未激活"},
    "at_revoked": {"vi": "tem đã thu hồi", "en": "revoked stamp", "zh": "标签已撤销"},
    "at_past_shelf_life": {"vi": "quá hạn sử dụng", "en": "past shelf life", "zh": "超过保质期"},
    "at_reuse_after_consumption": {
        "vi": "tem dùng lại sau khi đã tiêu thụ",
        "en": "reused after consumption",
        "zh": "食用后标签被再次使用",
    },
    "at_pin_reused": {"vi": "mã PIN bị dùng lại", "en": "PIN reused", "zh": "PIN 码被重复使用"},
    "at_pin_guessing": {"vi": "dò mã PIN", "en": "PIN guessing", "zh": "猜测 PIN 码"},
    "at_forged": {"vi": "tem giả (sai chữ ký)", "en": "forged stamp", "zh": "伪造标签（签名错误）"},
    "at_forged_burst": {"vi": "loạt tem giả", "en": "burst of forged stamps", "zh": "成批伪造标签"},
    "at_lot_escalation": {"vi": "lô hàng có nhiều cảnh báo", "en": "lot escalation", "zh": "批次预警过多"},
    "at_packing_house_escalation": {
        "vi": "cơ sở đóng gói có nhiều cảnh báo",
        "en": "packing house escalation",
        "zh": "包装厂预警过多",
    },
    "at_inspector_counterfeit": {
        "vi": "cán bộ kiểm tra phát hiện hàng giả",
        "en": "counterfeit found by an inspector",
        "zh": "市场监管人员发现假冒",
    },
    "at_inspector_seized": {
        "vi": "cán bộ kiểm tra thu giữ hàng",
        "en": "seized by an inspector",
        "zh": "市场监管人员查扣货物",
    },
    "at_consumer_report": {"vi": "người tiêu dùng báo hàng giả", "en": "consumer's report", "zh": "消费者举报假冒"},
    "at_growing_area_suspended": {
        "vi": "vùng trồng bị tạm dừng hoặc thu hồi",
        "en": "growing area suspended or revoked",
        "zh": "种植区被暂停或撤销",
    },
}


def t(key: str, lang: str, **values: object) -> str:
    text = MESSAGES[key].get(lang) or MESSAGES[key][DEFAULT_LANGUAGE]
    return text.format(**values) if values else text


def choose_language(requested: str | None) -> str:
    """An explicit ?lang= (vi, en or zh) wins; otherwise Vietnamese, whatever the browser says."""
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


def label(prefix: str, value: str | None, lang: str) -> str:
    """A severity, status, verdict or alert type in the reader's words; other values as they are."""
    key = f"{prefix}_{value}"
    return t(key, lang) if value and key in MESSAGES else (value or t("unknown", lang))


#: The administration pages (`ministry/admin.py`): order approval, organisations, API tokens.
ADMIN_MESSAGES: dict[str, dict[str, str]] = {
    "adm_nav": {"vi": "Quản trị", "en": "Administration", "zh": "管理"},
    "adm_orders": {"vi": "Duyệt đơn đặt in tem", "en": "Order approval", "zh": "订单审批"},
    "adm_organisations": {"vi": "Tổ chức", "en": "Organisations", "zh": "机构"},
    "adm_users": {"vi": "Mã truy cập (API token)", "en": "API tokens", "zh": "访问令牌"},
    "adm_pending": {"vi": "Đơn đặt in chờ duyệt", "en": "Orders waiting for approval", "zh": "待审批的订单"},
    "adm_pending_none": {"vi": "Không có đơn nào chờ duyệt.", "en": "No order is waiting.", "zh": "没有待审批的订单。"},
    "adm_decided": {"vi": "Quyết định gần đây", "en": "Recent decisions", "zh": "最近的决定"},
    "adm_decided_none": {"vi": "Chưa có quyết định nào.", "en": "No decisions yet.", "zh": "尚无决定。"},
    "adm_automatic": {
        "vi": "Đơn đặt in hiện được duyệt tự động (TEM_ORDER_APPROVAL=auto); trang này chỉ có việc khi cấu hình là "
        "required.",
        "en": "Orders are approved automatically now (TEM_ORDER_APPROVAL=auto); this page has work only when it is "
        "required.",
        "zh": "目前订单自动批准（TEM_ORDER_APPROVAL=auto）；仅当设置为 required 时本页才有待办事项。",
    },
    "adm_order": {"vi": "Đơn", "en": "Order", "zh": "订单"},
    "adm_quantity": {"vi": "Số lượng tem", "en": "Stamps", "zh": "标签数量"},
    "adm_template": {"vi": "Mẫu nhãn", "en": "Label template", "zh": "标签模板"},
    "adm_created": {"vi": "Ngày tạo", "en": "Created", "zh": "创建时间"},
    "adm_created_by": {"vi": "Người tạo", "en": "Created by", "zh": "创建者"},
    "adm_decided_by": {"vi": "Người quyết định", "en": "Decided by", "zh": "决定者"},
    "adm_decided_at": {"vi": "Lúc quyết định", "en": "Decided", "zh": "决定时间"},
    "adm_serials": {"vi": "Số sê-ri", "en": "Serials", "zh": "序列号"},
    "adm_reason": {"vi": "Lý do từ chối", "en": "Reason for rejecting", "zh": "拒绝理由"},
    "adm_approve": {"vi": "Duyệt", "en": "Approve", "zh": "批准"},
    "adm_reject": {"vi": "Từ chối", "en": "Reject", "zh": "拒绝"},
    "adm_os_pending": {"vi": "chờ duyệt", "en": "pending", "zh": "待审批"},
    "adm_os_approved": {"vi": "đã duyệt", "en": "approved", "zh": "已批准"},
    "adm_os_rejected": {"vi": "bị từ chối", "en": "rejected", "zh": "已拒绝"},
    "adm_done_approved": {"vi": "Đã duyệt đơn {id}.", "en": "Order {id} approved.", "zh": "订单 {id} 已批准。"},
    "adm_done_rejected": {"vi": "Đã từ chối đơn {id}.", "en": "Order {id} rejected.", "zh": "订单 {id} 已拒绝。"},
    "adm_reason_needed": {
        "vi": "cần ghi lý do từ chối (ít nhất 3 ký tự)",
        "en": "rejecting an order needs a reason (at least 3 characters)",
        "zh": "拒绝订单需要填写理由（至少 3 个字符）",
    },
    "adm_order_decided": {
        "vi": "đơn {id} đã được quyết định trước đó; hãy tải lại trang",
        "en": "order {id} has already been decided; reload the page",
        "zh": "订单 {id} 已有决定；请刷新页面",
    },
    "adm_order_not_found": {"vi": "không có đơn {id}", "en": "there is no order {id}", "zh": "没有订单 {id}"},
    "adm_form_expired": {
        "vi": "biểu mẫu đã hết hạn; hãy tải lại trang và thử lại",
        "en": "the form has expired; reload the page and try again",
        "zh": "表单已过期；请刷新页面后重试",
    },
    "adm_form_invalid": {
        "vi": "thông tin chưa hợp lệ: {fields}",
        "en": "these fields are not valid: {fields}",
        "zh": "以下字段无效：{fields}",
    },
    "adm_f_kind": {"vi": "loại tổ chức", "en": "kind", "zh": "类型"},
    "adm_f_name": {"vi": "tên", "en": "name", "zh": "名称"},
    "adm_f_code": {"vi": "mã", "en": "code", "zh": "代码"},
    "adm_f_province": {"vi": "tỉnh/thành", "en": "province", "zh": "省份"},
    "adm_f_organisation": {"vi": "tổ chức", "en": "organisation", "zh": "机构"},
    "adm_f_role": {"vi": "vai trò", "en": "role", "zh": "角色"},
    "adm_f_reason": {"vi": "lý do", "en": "reason", "zh": "理由"},
    "adm_kind": {"vi": "Loại", "en": "Kind", "zh": "类型"},
    "adm_code": {"vi": "Mã", "en": "Code", "zh": "代码"},
    "adm_name": {"vi": "Tên", "en": "Name", "zh": "名称"},
    "adm_ok_packing_house": {"vi": "cơ sở đóng gói", "en": "packing house", "zh": "包装厂"},
    "adm_ok_inspection_agency": {"vi": "cơ quan kiểm tra", "en": "inspection agency", "zh": "检查机构"},
    "adm_ok_distributor": {"vi": "nhà phân phối", "en": "distributor", "zh": "经销商"},
    "adm_ok_ministry": {"vi": "Bộ", "en": "ministry", "zh": "部委"},
    "adm_ok_province_authority": {"vi": "Sở (cấp tỉnh)", "en": "province authority", "zh": "省级主管部门"},
    "adm_org_new": {"vi": "Thêm tổ chức", "en": "Add an organisation", "zh": "添加机构"},
    "adm_create": {"vi": "Tạo", "en": "Create", "zh": "创建"},
    "adm_org_created": {
        "vi": "Đã thêm tổ chức {code}.",
        "en": "Organisation {code} added.",
        "zh": "已添加机构 {code}。",
    },
    "adm_org_code_taken": {
        "vi": "đã có tổ chức mang mã {code}",
        "en": "an organisation with code {code} already exists",
        "zh": "代码为 {code} 的机构已存在",
    },
    "adm_org_code_invalid": {
        "vi": "mã {code} không đúng mẫu mã cơ sở đóng gói",
        "en": "{code} does not match the packing-house code pattern",
        "zh": "{code} 不符合包装厂代码格式",
    },
    "adm_org_not_found": {
        "vi": "không có tổ chức mã {code}",
        "en": "no organisation has code {code}",
        "zh": "没有代码为 {code} 的机构",
    },
    "adm_role": {"vi": "Vai trò", "en": "Role", "zh": "角色"},
    "adm_role_packer": {"vi": "cơ sở đóng gói", "en": "packer", "zh": "包装厂"},
    "adm_role_inspector": {"vi": "cán bộ kiểm tra", "en": "inspector", "zh": "检查员"},
    "adm_role_distributor": {"vi": "nhà phân phối", "en": "distributor", "zh": "经销商"},
    "adm_role_ministry": {"vi": "cán bộ Bộ", "en": "ministry", "zh": "部委"},
    "adm_role_province": {"vi": "cán bộ tỉnh", "en": "province officer", "zh": "省级官员"},
    "adm_role_kind": {
        "vi": "vai trò «{role}» không dùng được cho loại tổ chức này",
        "en": "the role {role} cannot be given to this kind of organisation",
        "zh": "角色 {role} 不能用于此类机构",
    },
    "adm_token_name": {
        "vi": "Tên (người hoặc máy dùng mã)",
        "en": "Name (who or what uses it)",
        "zh": "名称（使用者）",
    },
    "adm_revoked_at": {"vi": "Thu hồi lúc", "en": "Revoked", "zh": "撤销时间"},
    "adm_active": {"vi": "đang dùng", "en": "active", "zh": "有效"},
    "adm_last_used": {"vi": "Dùng lần cuối", "en": "Last used", "zh": "最近使用"},
    "adm_never": {"vi": "chưa dùng", "en": "never", "zh": "从未使用"},
    "adm_revoke": {"vi": "Thu hồi", "en": "Revoke", "zh": "撤销"},
    "adm_token_new": {"vi": "Cấp mã truy cập mới", "en": "Issue a new token", "zh": "签发新令牌"},
    "adm_token_created": {
        "vi": "Mã truy cập mới {id} (chỉ hiện một lần; hãy sao chép ngay):",
        "en": "New token {id} (shown once only; copy it now):",
        "zh": "新令牌 {id}（仅显示一次，请立即复制）：",
    },
    "adm_token_revoked": {"vi": "Đã thu hồi mã {id}.", "en": "Token {id} revoked.", "zh": "令牌 {id} 已撤销。"},
    "adm_token_not_found": {"vi": "không có mã truy cập {id}", "en": "there is no token {id}", "zh": "没有令牌 {id}"},
    "adm_token_already_revoked": {
        "vi": "mã truy cập {id} đã bị thu hồi trước đó",
        "en": "token {id} is already revoked",
        "zh": "令牌 {id} 已被撤销",
    },
    "adm_inspections": {"vi": "Kiểm tra thực địa", "en": "Inspections", "zh": "现场检查"},
    "adm_inspections_total": {
        "vi": "{n} lượt kiểm tra trong khoảng thời gian này",
        "en": "{n} inspections in this period",
        "zh": "本期间共 {n} 次检查",
    },
    "adm_inspections_by_result": {"vi": "Theo kết luận", "en": "By result", "zh": "按结论"},
    "adm_inspections_recent": {"vi": "Lượt kiểm tra mới nhất", "en": "Latest inspections", "zh": "最近的检查"},
    "adm_inspector": {"vi": "Cán bộ kiểm tra", "en": "Inspector", "zh": "检查员"},
    "adm_inspected_at": {"vi": "Thời điểm", "en": "When", "zh": "时间"},
    "adm_result": {"vi": "Kết luận", "en": "Result", "zh": "结论"},
    "adm_ir_genuine": {"vi": "hàng thật", "en": "genuine", "zh": "正品"},
    "adm_ir_suspect": {"vi": "nghi ngờ", "en": "suspect", "zh": "可疑"},
    "adm_ir_counterfeit": {"vi": "hàng giả", "en": "counterfeit", "zh": "假冒"},
    "adm_ir_seized": {"vi": "thu giữ", "en": "seized", "zh": "已查扣"},
}
MESSAGES.update(ADMIN_MESSAGES)
