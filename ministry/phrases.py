"""Words on the ministry's pages and reports, in Vietnamese (the default: the ministry's staff) and English."""

from __future__ import annotations

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}

MESSAGES: dict[str, dict[str, str]] = {
    "title": {"vi": "Báo cáo của Bộ", "en": "Ministry reports"},
    "authority": {"vi": "Bộ Nông nghiệp và Môi trường", "en": "Ministry of Agriculture and Environment"},
    "login_title": {"vi": "Đăng nhập", "en": "Log in"},
    "login_help": {
        "vi": "Dán mã truy cập (API token) của cán bộ Bộ. Phiên đăng nhập được lưu trong cookie của trình duyệt.",
        "en": "Paste a ministry officer's API token. The login is kept in a browser cookie.",
    },
    "token": {"vi": "Mã truy cập", "en": "Token"},
    "login": {"vi": "Đăng nhập", "en": "Log in"},
    "logout": {"vi": "Đăng xuất", "en": "Log out"},
    "login_failed": {"vi": "Mã truy cập không đúng hoặc đã bị thu hồi.", "en": "The token is unknown or revoked."},
    "login_not_ministry": {"vi": "Trang này chỉ dành cho cán bộ Bộ.", "en": "These pages are for ministry staff."},
    "login_not_our_page": {
        "vi": "Biểu mẫu đăng nhập đã hết hạn hoặc không được gửi từ trang này. Vui lòng đăng nhập lại.",
        "en": "The login form has expired or was not sent from this site's page. Please log in again.",
    },
    "filters": {"vi": "Bộ lọc", "en": "Filters"},
    "since": {"vi": "Từ ngày", "en": "From"},
    "until": {"vi": "Đến ngày", "en": "To"},
    "any": {"vi": "Tất cả", "en": "Any"},
    "apply": {"vi": "Xem", "en": "Show"},
    "type": {"vi": "Loại", "en": "Type"},
    "severity": {"vi": "Mức độ", "en": "Severity"},
    "status": {"vi": "Trạng thái", "en": "Status"},
    "packing_house": {"vi": "Cơ sở đóng gói", "en": "Packing house"},
    "province": {"vi": "Tỉnh/thành", "en": "Province"},
    "country": {"vi": "Quốc gia (nơi quét)", "en": "Country (where scanned)"},
    "days_note": {
        "vi": "Ngày và tháng theo giờ Việt Nam (UTC+7).",
        "en": "Days and months are Vietnam time (UTC+7).",
    },
    "alerts_total": {"vi": "{n} cảnh báo trong khoảng thời gian này", "en": "{n} alerts in this period"},
    "alerts_per_day": {"vi": "Cảnh báo theo ngày", "en": "Alerts per day"},
    "alerts_by_type": {"vi": "Cảnh báo theo loại", "en": "Alerts by type"},
    "alerts_by_severity": {"vi": "Cảnh báo theo mức độ", "en": "Alerts by severity"},
    "alerts_by_status": {"vi": "Cảnh báo theo trạng thái", "en": "Alerts by status"},
    "alerts_by_province": {"vi": "Cảnh báo theo tỉnh của cơ sở đóng gói", "en": "Alerts by packing house province"},
    "alerts_by_country": {"vi": "Cảnh báo theo quốc gia nơi quét", "en": "Alerts by country where scanned"},
    "alerts_by_packing_house": {"vi": "Cảnh báo theo cơ sở đóng gói", "en": "Alerts by packing house"},
    "top_lots": {"vi": "Các lô hàng có nhiều cảnh báo nhất", "en": "Lots with the most alerts"},
    "lot": {"vi": "Lô hàng", "en": "Lot"},
    "alerts": {"vi": "Cảnh báo", "en": "Alerts"},
    "flagged_stamps": {"vi": "Tem bị cảnh báo", "en": "Flagged stamps"},
    "scans": {"vi": "Lượt quét", "en": "Scans"},
    "flagged_scans": {"vi": "Lượt quét bị đánh dấu", "en": "Flagged scans"},
    "stamps": {"vi": "Tem phát hành, kích hoạt và được quét", "en": "Stamps issued, activated and scanned"},
    "stamps_note": {
        "vi": "Phát hành: theo tháng đặt in. Kích hoạt: theo tháng kích hoạt. Tem được quét: số tem khác nhau, "
        "đếm chính xác trong từng tháng (tháng bị cắt bởi khoảng ngày chỉ đếm tem quét lần đầu trong tháng "
        "ở những ngày đã chọn).",
        "en": "Issued: by the order's month. Activated: by the activation's month. Stamps scanned: distinct stamps, "
        "exact within each calendar month (a month cut by the date range counts the stamps first scanned that "
        "month on the chosen days).",
    },
    "month": {"vi": "Tháng", "en": "Month"},
    "product": {"vi": "Sản phẩm", "en": "Product"},
    "issued": {"vi": "Phát hành", "en": "Issued"},
    "activated": {"vi": "Kích hoạt", "en": "Activated"},
    "stamps_scanned": {"vi": "Tem được quét", "en": "Stamps scanned"},
    "scans_by_verdict": {"vi": "Lượt quét theo kết quả", "en": "Scans by verdict"},
    "scans_by_country": {"vi": "Lượt quét theo quốc gia", "en": "Scans by country"},
    "none": {"vi": "Không có dữ liệu.", "en": "Nothing in this period."},
    "unknown": {"vi": "(không rõ)", "en": "(unknown)"},
    "export": {"vi": "Xuất dữ liệu", "en": "Export"},
    "export_alerts_csv": {"vi": "Danh sách cảnh báo (CSV)", "en": "Alert list (CSV)"},
    "export_stamps_csv": {"vi": "Số liệu tem theo tháng (CSV)", "en": "Stamps per month (CSV)"},
    "export_pdf": {"vi": "Báo cáo (PDF)", "en": "Report (PDF)"},
    "recent_alerts": {"vi": "Cảnh báo mới nhất", "en": "Latest alerts"},
    "open_alert": {"vi": "Xem", "en": "Open"},
    "first_seen": {"vi": "Lần đầu", "en": "First seen"},
    "last_seen": {"vi": "Lần cuối", "en": "Last seen"},
    "count": {"vi": "Số lần", "en": "Count"},
    "alert": {"vi": "Cảnh báo", "en": "Alert"},
    "back": {"vi": "Về bảng tổng hợp", "en": "Back to the dashboard"},
    "subject": {"vi": "Đối tượng", "en": "Subject"},
    "verdict_now": {"vi": "Kết quả tem hiện nay", "en": "The stamp's verdict now"},
    "verdict_now_note": {
        "vi": "người tiêu dùng và cán bộ kiểm tra quét tem lúc này đều nhận kết quả này",
        "en": "what a consumer or an inspector scanning the stamp now is told",
    },
    "stamp": {"vi": "Tem", "en": "Stamp"},
    "explanation": {"vi": "Giải thích", "en": "Explanation"},
    "trail": {"vi": "Hành trình quét", "en": "Scan trail"},
    "trail_none": {"vi": "Chưa có lượt quét nào được ghi lại.", "en": "No scans recorded."},
    "map": {"vi": "Bản đồ các lượt quét", "en": "Map of the scans"},
    "map_note": {
        "vi": "Vòng tròn là bán kính sai số của vị trí. Đường viền Việt Nam và bờ biển Trung Quốc chỉ là phác thảo.",
        "en": "Circles show each location's accuracy radius. The outlines of Vietnam and China's coast are rough.",
    },
    "no_location": {"vi": "không có vị trí", "en": "no location"},
    "history": {"vi": "Lịch sử xử lý", "en": "Workflow history"},
    "workflow": {"vi": "Xử lý cảnh báo", "en": "Work the alert"},
    "comment": {"vi": "Ghi chú (bắt buộc khi đóng)", "en": "Comment (needed to close)"},
    "to_acknowledged": {"vi": "Tiếp nhận", "en": "Acknowledge"},
    "to_resolved": {"vi": "Đã xử lý", "en": "Resolve"},
    "to_false_positive": {"vi": "Báo nhầm", "en": "False positive"},
    "closed": {"vi": "Cảnh báo đã đóng.", "en": "This alert is closed."},
    "error": {"vi": "Không thực hiện được", "en": "Could not do that"},
    "accuracy": {"vi": "sai số {km} km", "en": "±{km} km"},
    "findings": {"vi": "Phát hiện", "en": "Findings"},
    "sev_info": {"vi": "thông tin", "en": "info"},
    "sev_warning": {"vi": "cảnh báo", "en": "warning"},
    "sev_critical": {"vi": "nghiêm trọng", "en": "critical"},
    "st_open": {"vi": "mới", "en": "open"},
    "st_acknowledged": {"vi": "đã tiếp nhận", "en": "acknowledged"},
    "st_resolved": {"vi": "đã xử lý", "en": "resolved"},
    "st_false_positive": {"vi": "báo nhầm", "en": "false positive"},
    "v_genuine": {"vi": "hàng thật", "en": "genuine"},
    "v_suspect": {"vi": "nghi ngờ", "en": "suspect"},
    "v_counterfeit": {"vi": "hàng giả", "en": "counterfeit"},
    "v_unknown": {"vi": "chưa rõ", "en": "unknown"},
    "report_period": {"vi": "Kỳ báo cáo: {since} – {until}", "en": "Period: {since} – {until}"},
    "generated": {"vi": "Lập lúc {when}", "en": "Generated {when}"},
    "reports": {"vi": "Báo cáo của người tiêu dùng", "en": "Consumers' reports"},
    "reports_note": {
        "vi": "Mỗi báo cáo là lời khai của một người, chưa phải bằng chứng. Ảnh đã được bỏ thông tin kèm theo "
        "(EXIF, GPS). Chỉ cán bộ của Bộ xem được ảnh và thông tin liên hệ.",
        "en": "Each report is one person's claim, not proof. Photos carry no metadata (EXIF, GPS). Only ministry "
        "staff can see the photos and contacts.",
    },
    "report_shown": {"vi": "Trang đã báo", "en": "The page said"},
    "report_place": {"vi": "Nơi mua", "en": "Bought at"},
    "report_position": {"vi": "Vị trí điện thoại", "en": "Phone's position"},
    "report_contact": {"vi": "Liên hệ", "en": "Contact"},
    "report_network": {"vi": "Mạng (mã băm)", "en": "Network (hash)"},
    "report_photo": {"vi": "Ảnh", "en": "Photo"},
    "report_no_photo": {"vi": "không có ảnh", "en": "no photo"},
    "comment_needed": {
        "vi": "cần ghi chú lý do khi chuyển cảnh báo sang «{to}»",
        "en": "closing an alert as {to} needs a comment saying why",
    },
    "transition_refused": {
        "vi": "cảnh báo đang ở trạng thái «{now}», không chuyển sang «{to}» được; hãy tải lại trang",
        "en": "the alert is {now} and cannot move to {to}; reload the page",
    },
    # Alert types (docs/alerts.md), as the ministry's pages and report name them.
    "at_duplicate": {"vi": "tem bị quét trùng", "en": "duplicate stamp"},
    "at_impossible_travel": {"vi": "di chuyển bất khả thi", "en": "impossible travel"},
    "at_off_route": {"vi": "ngoài tuyến vận chuyển", "en": "off route"},
    "at_not_activated": {"vi": "tem chưa kích hoạt", "en": "not activated"},
    "at_revoked": {"vi": "tem đã thu hồi", "en": "revoked stamp"},
    "at_past_shelf_life": {"vi": "quá hạn sử dụng", "en": "past shelf life"},
    "at_reuse_after_consumption": {"vi": "tem dùng lại sau khi đã tiêu thụ", "en": "reused after consumption"},
    "at_pin_reused": {"vi": "mã PIN bị dùng lại", "en": "PIN reused"},
    "at_pin_guessing": {"vi": "dò mã PIN", "en": "PIN guessing"},
    "at_forged": {"vi": "tem giả (sai chữ ký)", "en": "forged stamp"},
    "at_forged_burst": {"vi": "loạt tem giả", "en": "burst of forged stamps"},
    "at_lot_escalation": {"vi": "lô hàng có nhiều cảnh báo", "en": "lot escalation"},
    "at_packing_house_escalation": {"vi": "cơ sở đóng gói có nhiều cảnh báo", "en": "packing house escalation"},
    "at_inspector_counterfeit": {"vi": "cán bộ kiểm tra phát hiện hàng giả", "en": "counterfeit found by an inspector"},
    "at_inspector_seized": {"vi": "cán bộ kiểm tra thu giữ hàng", "en": "seized by an inspector"},
    "at_consumer_report": {"vi": "người tiêu dùng báo hàng giả", "en": "consumer's report"},
}


def t(key: str, lang: str, **values: object) -> str:
    text = MESSAGES[key].get(lang) or MESSAGES[key][DEFAULT_LANGUAGE]
    return text.format(**values) if values else text


def choose_language(requested: str | None) -> str:
    """An explicit ?lang= (en or vi) wins; otherwise Vietnamese, whatever the browser says."""
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


def label(prefix: str, value: str | None, lang: str) -> str:
    """A severity, status, verdict or alert type in the reader's words; other values as they are."""
    key = f"{prefix}_{value}"
    return t(key, lang) if value and key in MESSAGES else (value or t("unknown", lang))
