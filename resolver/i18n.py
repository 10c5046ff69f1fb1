"""Words on the consumer pages, in Vietnamese, English and Chinese, and how the language is chosen."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
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
        "vi": "Mã này được kiểm tra ở nơi hoặc vào lúc không khớp với hành trình đã khai báo của lô hàng.",
        "en": "This code was checked at a place or time that does not fit this lot's declared journey.",
        "zh": "此码的查询地点或时间与该批次申报的运输行程不符。",
    },
    # The off-route rules one by one, where the words can say exactly what was seen.
    "finding_region": {
        "vi": "Mã này được kiểm tra ở nơi cách xa tuyến vận chuyển đã khai báo của lô hàng.",
        "en": "This code was checked far from where this lot was sent.",
        "zh": "此码的查询地点远离该批次申报的运输路线。",
    },
    "finding_abroad": {
        "vi": "Mã này được kiểm tra ở một nước mà lô hàng không được gửi tới.",
        "en": "This code was checked in a country this lot was not sent to.",
        "zh": "此码在该批次未发往的国家被查询。",
    },
    "finding_backflow": {
        "vi": "Mã này được kiểm tra lại ở Việt Nam sau khi hàng đã được bán ở nước nhập khẩu.",
        "en": "This code was checked back in Vietnam after the fruit had been sold abroad.",
        "zh": "此水果在国外售出后，此码又在越南被查询。",
    },
    "finding_exported": {
        "vi": "Mã này được kiểm tra ở Việt Nam sau khi lô hàng đã xuất khẩu. Hàng xuất khẩu không được bán trong nước.",
        "en": "This code was checked in Vietnam after its lot had left for export. Export fruit is not sold there.",
        "zh": "此批次已出口后，此码又在越南被查询。出口水果不在越南国内销售。",
    },
    "finding_early": {
        "vi": "Mã này được kiểm tra ở đây sớm hơn thời gian lô hàng cần để đến nơi bằng đường bộ.",
        "en": "This code was checked here sooner than the lot could have arrived by road.",
        "zh": "此码在该批次经陆路运抵之前就已在此处被查询。",
    },
    "finding_inspector_counterfeit": {
        "vi": "Cán bộ kiểm tra đã phát hiện tem này trên hàng giả.",
        "en": "An inspector found this stamp on counterfeit goods.",
        "zh": "检查人员在假冒商品上发现了此标签。",
    },
    "finding_inspector_seized": {
        "vi": "Cán bộ kiểm tra đã tạm giữ hàng mang tem này.",
        "en": "An inspector has seized goods carrying this stamp.",
        "zh": "检查人员已扣押贴有此标签的商品。",
    },
    "finding_past_shelf_life": {
        "vi": "Mã này được kiểm tra quá lâu sau hạn sử dụng của quả. Tem có thể đã bị tái sử dụng.",
        "en": "This code was checked long after the fruit's shelf life. The stamp may have been reused.",
        "zh": "此码的查询时间远超水果的保质期。此标签可能被重复使用。",
    },
    "finding_reuse_after_consumption": {
        "vi": "Một người mới kiểm tra mã này nhiều ngày sau lần kiểm tra đầu tiên, khi quả đã được ăn từ lâu. Tem có "
        "thể đang ở trên một quả khác.",
        "en": "Someone new checked this code days after its first check, when the fruit would long have been eaten. "
        "The stamp may be on another fruit.",
        "zh": "首次查询数天后，有新用户查询此码，而那时水果早应已被食用。此标签可能贴在另一个水果上。",
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
    # A revoked stamp's line names its category (detection.ports.RevocationCategory), never the packing house's
    # own reason. The engine's explanations (detection/engine/rules.py `revoked`) use the same vi and en words.
    "state_revoked": {
        "vi": "Tem này đã bị thu hồi. Lý do: {category}.",
        "en": "This stamp has been revoked. Reason: {category}.",
        "zh": "此标签已被撤销。原因：{category}。",
    },
    "revocation_withdrawn": {
        "vi": "Đã được cơ sở đóng gói thu hồi",
        "en": "Withdrawn by the packing house",
        "zh": "已由包装厂撤回",
    },
    "revocation_stolen": {
        "vi": "Đã được báo mất hoặc bị đánh cắp",
        "en": "Reported stolen or lost",
        "zh": "已报告被盗或遗失",
    },
    "revocation_recalled": {
        "vi": "Bị thu hồi vì lý do an toàn hoặc chất lượng",
        "en": "Recalled for safety or quality",
        "zh": "因安全或质量原因被召回",
    },
    "revocation_misprinted": {"vi": "Tem bị in lỗi", "en": "Printed in error", "zh": "标签印制有误"},
    "revocation_other": {"vi": "Khác", "en": "Other", "zh": "其他"},
    "revocation_key_withdrawn": {
        "vi": "Khóa ký của tem đã bị thu hồi",
        "en": "The key that signed it was withdrawn",
        "zh": "签发此标签的密钥已被撤回",
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
    "area_status_active": {"vi": "Đang hoạt động", "en": "Active", "zh": "有效"},
    "farming_diary": {"vi": "Nhật ký canh tác", "en": "Farming diary", "zh": "种植日志"},
    "diary_sprays": {
        "vi": "{n} lần phun thuốc trong vụ này, lần cuối ngày {date}",
        "en": "{n} sprays this season, last on {date}",
        "zh": "本季喷药 {n} 次，最后一次 {date}",
    },
    "diary_one_spray": {
        "vi": "1 lần phun thuốc trong vụ này, ngày {date}",
        "en": "1 spray this season, on {date}",
        "zh": "本季喷药 1 次，{date}",
    },
    "diary_no_sprays": {
        "vi": "Không ghi nhận lần phun thuốc nào trong vụ này",
        "en": "No sprays recorded this season",
        "zh": "本季未记录喷药",
    },
    "diary_respected": {"vi": "đều đúng thời gian cách ly", "en": "all intervals respected", "zh": "均遵守安全间隔期"},
    "diary_not_respected": {
        "vi": "có lần phun chưa hết thời gian cách ly trước thu hoạch",
        "en": "an interval had not passed by the harvest",
        "zh": "有喷药在采收前未满安全间隔期",
    },
    "diary_banned": {
        "vi": "có ghi nhận hoạt chất bị cấm",
        "en": "a banned substance is recorded",
        "zh": "记录有禁用物质",
    },
    "area_status_suspended": {"vi": "Đã bị tạm dừng", "en": "Suspended", "zh": "已暂停"},
    "area_status_revoked": {"vi": "Đã bị thu hồi", "en": "Revoked", "zh": "已撤销"},
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
    "files_on_record": {"vi": "Giấy tờ đã lưu", "en": "Documents on file", "zh": "已存档文件"},
    "files_on_record_help": {
        "vi": "Cơ sở đóng gói đã nộp các giấy tờ này; cơ quan quản lý xem được bản gốc. Mã SHA-256 giúp đối "
        "chiếu đúng tệp.",
        "en": "The packing house has filed these documents; the authorities can read the originals. The SHA-256 "
        "fingerprint identifies the exact file.",
        "zh": "包装厂已提交以下文件，主管部门可查阅原件。SHA-256 指纹用于核对确切的文件。",
    },
    "file_uploaded": {"vi": "nộp ngày {date}", "en": "filed {date}", "zh": "提交于 {date}"},
    "file_fingerprint": {"vi": "SHA-256 {sha}…", "en": "SHA-256 {sha}…", "zh": "SHA-256 {sha}…"},
    "stage_harvest": {"vi": "Thu hoạch", "en": "Harvest", "zh": "采收"},
    "stage_receiving": {"vi": "Nhập cơ sở đóng gói", "en": "Received at packing house", "zh": "入厂"},
    "stage_packing": {"vi": "Đóng gói", "en": "Packing", "zh": "包装"},
    "stage_shipping": {"vi": "Vận chuyển", "en": "Shipping", "zh": "运输"},
    "stage_border_crossing": {"vi": "Qua cửa khẩu", "en": "Border crossing", "zh": "通关"},
    "stage_import": {"vi": "Nhập khẩu", "en": "Import", "zh": "进口"},
    # Stages that traders, transporters and importers record (EPCIS business steps)
    "step_receiving": {"vi": "Nhận hàng", "en": "Received", "zh": "收货"},
    "step_accepting": {"vi": "Nhận hàng", "en": "Accepted", "zh": "验收"},
    "step_arriving": {"vi": "Hàng đến", "en": "Arrived", "zh": "到达"},
    "step_departing": {"vi": "Hàng rời đi", "en": "Departed", "zh": "离开"},
    "step_shipping": {"vi": "Gửi hàng", "en": "Shipped", "zh": "发货"},
    "step_transporting": {"vi": "Vận chuyển", "en": "In transport", "zh": "运输中"},
    "step_loading": {"vi": "Xếp hàng lên xe", "en": "Loaded", "zh": "装车"},
    "step_unloading": {"vi": "Dỡ hàng", "en": "Unloaded", "zh": "卸货"},
    "step_storing": {"vi": "Lưu kho", "en": "Stored", "zh": "入库"},
    "step_inspecting": {"vi": "Kiểm tra", "en": "Inspected", "zh": "检验"},
    "step_packing": {"vi": "Đóng gói", "en": "Packed", "zh": "包装"},
    "step_repackaging": {"vi": "Đóng gói lại", "en": "Repacked", "zh": "重新包装"},
    "step_retail_selling": {"vi": "Bán lẻ", "en": "Sold in a shop", "zh": "零售"},
    "step_other": {"vi": "Ghi nhận khác", "en": "Other record", "zh": "其他记录"},
    "recorded_by": {"vi": "Ghi nhận bởi {name}", "en": "Recorded by {name}", "zh": "记录方：{name}"},
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
        "vi": "Mã cào khớp. Đây là lần xác nhận đầu tiên.",
        "en": "The code matches. This is its first confirmation.",
        "zh": "刮开码正确，且为首次验证。",
    },
    "pin_reused": {
        "vi": "Mã cào này đã được xác nhận {n} lần trước đây trên điện thoại khác. Nếu không phải người trong nhà "
        "bạn, tem này có thể đã bị sao chép.",
        "en": "This code was already confirmed {n} time(s) before, on another phone. If that was not someone in "
        "your household, this stamp may have been copied.",
        "zh": "此刮开码之前已在另一部手机上被验证{n}次。如果不是您的家人所为，此标签可能已被复制。",
    },
    "pin_wrong": {
        "vi": "Mã cào không khớp. Hãy kiểm tra lại các chữ số.",
        "en": "The code does not match. Check the digits and try again.",
        "zh": "刮开码不正确，请核对数字后重试。",
    },
    "pin_locked": {
        "vi": "Đã nhập sai mã quá nhiều lần cho tem này: tem không nhận thêm mã nào nữa.",
        "en": "Too many wrong codes were entered for this stamp: it no longer accepts codes.",
        "zh": "此标签的错误次数过多：不再接受刮开码。",
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
    # The "Report a fake" form (resolver/report_form.py) and what `reports` answers.
    "report_title": {"vi": "Báo hàng giả", "en": "Report a fake", "zh": "举报假货"},
    "report_help": {
        "vi": "Nếu bạn nghĩ quả này là hàng giả, hãy báo cho Bộ Nông nghiệp và Môi trường. Nếu được, hãy chụp ảnh "
        "tem và quả.",
        "en": "If you think this fruit is fake, tell the Ministry of Agriculture and Environment. If you can, take a "
        "photo of the stamp and the fruit.",
        "zh": "如您认为此商品是假货，请向越南农业与环境部举报。如可以，请拍下标签和果实的照片。",
    },
    "report_photo": {
        "vi": "Ảnh (không bắt buộc, tối đa 8 MB)",
        "en": "Photo (optional, up to 8 MB)",
        "zh": "照片（可选，最大 8 MB）",
    },
    "report_place": {
        "vi": "Nơi bạn mua (thành phố, chợ, cửa hàng)",
        "en": "Where you bought it (city, market, shop)",
        "zh": "购买地点（城市、市场、商店）",
    },
    "report_position": {
        "vi": "Gửi kèm vị trí hiện tại của điện thoại",
        "en": "Add my phone's current position",
        "zh": "附上手机当前位置",
    },
    "report_position_added": {"vi": "Đã thêm vị trí.", "en": "Position added.", "zh": "已添加位置。"},
    "report_position_failed": {
        "vi": "Không lấy được vị trí. Bạn vẫn có thể gửi báo cáo.",
        "en": "The position could not be found. You can still send the report.",
        "zh": "无法获取位置。您仍可提交举报。",
    },
    "report_contact": {
        "vi": "Số điện thoại hoặc email, nếu bạn đồng ý để cán bộ liên hệ (không bắt buộc)",
        "en": "Phone or e-mail, if staff may contact you (optional)",
        "zh": "电话或电子邮箱，如您同意工作人员联系您（可选）",
    },
    "report_privacy": {
        "vi": "Chỉ cán bộ của Bộ xem được ảnh và thông tin liên hệ của bạn.",
        "en": "Only ministry staff see your photo and contact details.",
        "zh": "只有农业与环境部的工作人员能看到您的照片和联系方式。",
    },
    "report_submit": {"vi": "Gửi báo cáo", "en": "Send the report", "zh": "提交举报"},
    "report_sent_title": {"vi": "Đã gửi báo cáo", "en": "Report sent", "zh": "举报已提交"},
    "report_sent": {
        "vi": "Cảm ơn bạn. Báo cáo đã được gửi đến Bộ Nông nghiệp và Môi trường. Báo cáo không thay đổi kết quả "
        "kiểm tra tem: cán bộ sẽ xem xét.",
        "en": "Thank you. Your report has gone to the Ministry of Agriculture and Environment. It does not change "
        "the stamp's check: staff will look into it.",
        "zh": "谢谢。您的举报已提交至越南农业与环境部。举报不会改变此标签的验证结果，工作人员会进行核查。",
    },
    "report_not_sent_title": {"vi": "Chưa gửi được báo cáo", "en": "The report was not sent", "zh": "举报未能提交"},
    "report_fix_and_resend": {
        "vi": "Bạn có thể sửa lại rồi gửi lại biểu mẫu bên dưới.",
        "en": "You can fix this and send the form below again.",
        "zh": "您可以修改后再次提交下面的表单。",
    },
    "report_too_large": {
        "vi": "Ảnh lớn hơn 8 MB. Hãy gửi ảnh nhỏ hơn.",
        "en": "The photo is larger than 8 MB. Please send a smaller one.",
        "zh": "照片超过 8 MB，请发送较小的照片。",
    },
    "report_too_many_pixels": {
        "vi": "Ảnh quá lớn (hơn {n} triệu điểm ảnh). Hãy gửi ảnh nhỏ hơn.",
        "en": "The picture is too big (more than {n} million pixels). Please send a smaller one.",
        "zh": "图片过大（超过{n}百万像素），请发送较小的图片。",
    },
    "report_not_image": {
        "vi": "Tệp này không phải là ảnh đọc được. Hãy gửi ảnh JPEG, PNG hoặc WebP.",
        "en": "This file is not a picture we can read. Please send a JPEG, PNG or WebP photo.",
        "zh": "无法读取此文件。请发送 JPEG、PNG 或 WebP 格式的照片。",
    },
    "report_damaged": {
        "vi": "Không đọc được ảnh: tệp có thể bị hỏng hoặc chưa tải lên hết. Hãy thử lại.",
        "en": "The photo could not be read: the file seems damaged or incomplete. Please try again.",
        "zh": "无法读取照片：文件可能已损坏或不完整，请重试。",
    },
    "report_contact_invalid": {
        "vi": "Hãy ghi một số điện thoại hoặc một địa chỉ email (tối đa {n} ký tự), hoặc để trống.",
        "en": "Write one phone number or one e-mail address (at most {n} characters), or leave it empty.",
        "zh": "请填写一个电话号码或一个电子邮箱（最多{n}个字符），或留空。",
    },
    "report_place_invalid": {
        "vi": "Nơi mua quá dài (tối đa {n} ký tự).",
        "en": "The place is too long (at most {n} characters).",
        "zh": "地点过长（最多{n}个字符）。",
    },
    "report_position_invalid": {
        "vi": "Không đọc được vị trí của điện thoại.",
        "en": "The phone's position could not be read.",
        "zh": "无法读取手机位置。",
    },
    "report_unreadable_form": {
        "vi": "Không đọc được biểu mẫu. Hãy quét lại mã QR trên tem và thử lại.",
        "en": "The form could not be read. Scan the QR code on the stamp again and try again.",
        "zh": "无法读取表单。请重新扫描标签上的二维码后重试。",
    },
    "report_expired": {
        "vi": "Biểu mẫu này đã hết hạn hoặc không đến từ trang của chúng tôi. Hãy quét lại mã QR trên tem rồi gửi "
        "từ trang đó.",
        "en": "This form has expired or did not come from our page. Scan the QR code on the stamp again and send it "
        "from there.",
        "zh": "此表单已过期或并非来自本网站页面。请重新扫描标签上的二维码，并在该页面提交。",
    },
    "report_forged": {
        "vi": "Mã này không do hệ thống phát hành nên không thể báo cáo tại đây. Hãy báo cho cơ quan quản lý thị "
        "trường nơi bạn mua hàng.",
        "en": "This code was not issued by this system, so it cannot be reported here. Please tell the market "
        "authority where you bought it.",
        "zh": "此码并非本系统签发，无法在此举报。请向购买地的市场监管部门举报。",
    },
    "report_limit_network": {
        "vi": "Có quá nhiều báo cáo từ mạng của bạn. Vui lòng thử lại sau một giờ.",
        "en": "Too many reports have come from your network. Please try again in an hour.",
        "zh": "来自您网络的举报过多，请一小时后再试。",
    },
    "report_limit_stamp": {
        "vi": "Tem này đã được báo nhiều lần trong hôm nay và Bộ đã nhận các báo cáo đó. Vui lòng thử lại vào "
        "ngày mai.",
        "en": "This stamp has been reported many times today, and the ministry has those reports. Please try again "
        "tomorrow.",
        "zh": "此标签今天已被多次举报，农业与环境部已收到这些举报。请明天再试。",
    },
    "report_limit_day": {
        "vi": "Hôm nay hệ thống đã nhận quá nhiều báo cáo. Vui lòng thử lại vào ngày mai.",
        "en": "Too many reports have come in today. Please try again tomorrow.",
        "zh": "今天收到的举报过多，请明天再试。",
    },
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


def revoked_line(category: str | None, lang: str) -> str:
    """A revoked stamp's line: its category's label ("other" for a category without one)."""
    key = f"revocation_{category}"
    return t("state_revoked", lang, category=t(key if key in MESSAGES else "revocation_other", lang))


def finding_lines(findings: Iterable[Any], lang: str, open_alerts: Iterable[Any] = ()) -> list[str]:
    """One plain line per kind of finding the consumer should know about, in the words of the rule that found
    it; then one per type of the stamp's other open alerts (found by earlier scans), which the verdict also
    rests on. The registry's own states (revoked, never activated) have their lines already."""
    keys: dict[str, None] = {}
    seen = set()
    for f in findings:
        seen.add(f.type)
        keys[rule if (rule := f"finding_{f.rule}") in MESSAGES else f"finding_{f.type.value}"] = None
    for kind in open_alerts:
        if kind not in seen:
            keys[f"finding_{kind.value}"] = None
    return [t(key, lang) for key in keys if key in MESSAGES]


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


#: UTC offsets of the countries a lot passes through or is sold in; none of them keeps summer time.
_COUNTRY_HOURS = {"VN": 7, "TH": 7, "LA": 7, "KH": 7, "CN": 8, "HK": 8, "MO": 8, "TW": 8, "SG": 8, "MY": 8, "PH": 8}


def format_time(epoch: float | dt.datetime | None, lang: str, country: str | None = None) -> str:
    """A time with its zone shown. In the place's zone when its country is known (a stage in Vietnam: UTC+7;
    a scan located in China: UTC+8); otherwise the reader's: Vietnam for Vietnamese, China for Chinese, UTC."""
    if epoch is None:
        return ""
    moment = epoch if isinstance(epoch, dt.datetime) else dt.datetime.fromtimestamp(epoch, dt.UTC)
    hours = _COUNTRY_HOURS.get((country or "").upper())
    tz = dt.timezone(dt.timedelta(hours=hours)) if hours is not None else _TZ.get(lang, dt.UTC)
    local = moment.astimezone(tz)
    offset = int((local.utcoffset() or dt.timedelta()).total_seconds() // 3600)
    zone = f"UTC{offset:+d}" if offset else "UTC"
    if lang == "vi":
        return f"{local:%H:%M %d/%m/%Y} {zone}"
    if lang == "zh":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M} {zone}"
    return f"{local:%d %b %Y %H:%M} {zone}"


#: The border gates' own names in Chinese; Vietnamese and English keep the Vietnamese name.
_GATES_ZH = {"hữu nghị": "友谊关", "tân thanh": "新清", "kim thành": "金城", "móng cái": "芒街"}
_GATE = re.compile(
    r"(?:cửa khẩu\s+)(?P<a>hữu nghị|tân thanh|kim thành|móng cái)|(?P<b>hữu nghị|tân thanh|kim thành|móng cái)"
    r"\s+border gate",
    re.IGNORECASE,
)


def place_name(text: str, lang: str) -> str:
    """A place as a packing house typed it, with a border gate named in the reader's words: "Hữu Nghị border
    gate" or "cửa khẩu Hữu Nghị" is "cửa khẩu Hữu Nghị", "Hữu Nghị border gate" or "友谊关口岸". The rest is kept."""

    def gate(found: re.Match[str]) -> str:
        name = found.group("a") or found.group("b")
        if lang == "zh":
            return f"{_GATES_ZH[name.lower()]}口岸"
        return f"cửa khẩu {name}" if lang == "vi" else f"{name} border gate"

    return _GATE.sub(gate, unicodedata.normalize("NFC", text))


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


def diary_line(summary: Any, lang: str) -> str:
    """An area's diary for a lot in one line: "3 sprays this season, last on 12 May 2026; all intervals respected"."""
    if summary.sprays == 0:
        parts = [t("diary_no_sprays", lang)]
    else:
        key = "diary_one_spray" if summary.sprays == 1 else "diary_sprays"
        parts = [t(key, lang, n=format_number(summary.sprays, lang), date=format_date(summary.last_spray, lang))]
        parts.append(t("diary_respected" if summary.intervals_respected else "diary_not_respected", lang))
    if summary.banned_found:
        parts.append(t("diary_banned", lang))
    separator = "；" if lang == "zh" else "; "
    return separator.join(parts)
